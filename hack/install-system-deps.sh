#!/usr/bin/env bash
# Installs the Debian packages flowgate's testbed needs, once: Open vSwitch (a real data plane per
# simulated node), ethtool and iproute2 (network namespaces), openssl (the testbed's certificates).
# Skips what is already there.
set -euo pipefail
need=()
command -v ovs-vswitchd >/dev/null || need+=(openvswitch-switch)
command -v ethtool >/dev/null || need+=(ethtool)
command -v ip >/dev/null || need+=(iproute2)
command -v openssl >/dev/null || need+=(openssl)
[ ${#need[@]} -eq 0 ] && { echo "flowgate: system packages present"; exit 0; }
if [ "$(id -u)" != 0 ]; then
  echo "flowgate: these Debian packages are missing and installing them needs root: ${need[*]}" >&2
  exit 1
fi
echo "flowgate: installing ${need[*]} with apt ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
