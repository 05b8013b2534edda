#!/usr/bin/env bash
# Installs the Debian packages flowgate needs, once, skipping what is already there.
#   hack/install-system-deps.sh          the testbed's: Open vSwitch (a real data plane per
#                                        simulated node), ethtool and iproute2 (network
#                                        namespaces), openssl (the testbed's certificates),
#                                        iptables (tests that firewall a node's collector),
#                                        haproxy (the load balancer in front of two gateways,
#                                        standing in for a Service), a C compiler (gcc) for the
#                                        traffic generator the data-plane benchmark and the
#                                        projection test send with (bench/pktgen.c)
#   hack/install-system-deps.sh browser  the browser tests': Debian's chromium (driven by
#                                        Playwright from PyPI; no browser is downloaded)
#   hack/install-system-deps.sh image    the image build's: buildah (builds the Containerfile
#                                        without a daemon) and debootstrap (makes the Debian base
#                                        image when no registry is reachable)
#   hack/install-system-deps.sh monitoring
#                                        the alerting tests': Debian's prometheus (the server that
#                                        scrapes the testbed, and promtool, which unit-tests the
#                                        alert rules); its service is never started
#   hack/install-system-deps.sh console  zstd, to unpack the OpenShift console the browser tests
#                                        run the plugin in (hack/install-console.sh)
set -euo pipefail
need=()
case "${1:-testbed}" in
  testbed)
    command -v ovs-vswitchd >/dev/null || need+=(openvswitch-switch)
    command -v ethtool >/dev/null || need+=(ethtool)
    command -v ip >/dev/null || need+=(iproute2)
    command -v openssl >/dev/null || need+=(openssl)
    PATH=$PATH:/usr/sbin:/sbin command -v iptables >/dev/null || need+=(iptables)
    PATH=$PATH:/usr/sbin:/sbin command -v haproxy >/dev/null || need+=(haproxy)
    command -v cc >/dev/null || need+=(gcc)
    ;;
  browser)
    [ -x /usr/bin/chromium ] || need+=(chromium)
    ;;
  image)
    command -v buildah >/dev/null || need+=(buildah)
    command -v debootstrap >/dev/null || need+=(debootstrap)
    ;;
  monitoring)
    command -v promtool >/dev/null || need+=(prometheus)
    ;;
  console)
    command -v zstd >/dev/null || need+=(zstd)
    ;;
  *)
    echo "flowgate: install-system-deps.sh takes 'testbed' (the default), 'browser', 'image', 'monitoring' or 'console', not '$1'." >&2
    exit 2
    ;;
esac
[ ${#need[@]} -eq 0 ] && { echo "flowgate: system packages present"; exit 0; }
if [ "$(id -u)" != 0 ]; then
  echo "flowgate: these Debian packages are missing and installing them needs root: ${need[*]}" >&2
  exit 1
fi
echo "flowgate: installing ${need[*]} with apt ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps maintainer scripts from starting services (prometheus would start a server).
rc_policy=/usr/sbin/policy-rc.d
if [ ! -e "$rc_policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$rc_policy" && chmod 755 "$rc_policy"
  trap 'rm -f "$rc_policy"' EXIT
fi
apt-get install -y -qq "${need[@]}" >/dev/null
