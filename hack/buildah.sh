#!/usr/bin/env bash
# buildah on flowgate's own image store, where hack/build-image.sh keeps the Debian base image, the
# layer cache and localhost/flowgate:<version>. Any buildah command works:
#
#   hack/buildah.sh images
#   hack/buildah.sh run --isolation chroot $(hack/buildah.sh from localhost/flowgate:0.1.0) -- flowgate --version
#   hack/buildah.sh --print-store     the store's directory and driver
#
# The store is ~/.cache/flowgate/containers (FLOWGATE_IMAGE_STORE). Its storage driver is overlay
# where this machine can mount overlay file systems there (a build step or a container costs a
# mount), and vfs where it cannot (every build step and every container is a full copy of the file
# system: minutes per build, gigabytes of cache). The choice is made once, as root, and kept in
# STORE/driver; FLOWGATE_IMAGE_DRIVER=overlay|vfs overrides it. Each driver has its own directory.
set -euo pipefail
CACHE=${FLOWGATE_CACHE:-$HOME/.cache/flowgate}
STORE=${FLOWGATE_IMAGE_STORE:-$CACHE/containers}

fail() { echo "flowgate: $*" >&2; exit 1; }

# overlay_works: whether the kernel mounts an overlay file system inside the store (not on every
# machine: an overlay store on a file system that is itself overlay, or without the privilege to
# mount, is refused).
overlay_works() {
  local probe ok=false
  probe=$(mktemp -d "$STORE/.overlay-probe.XXXXXX")
  mkdir -p "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
  if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" "$probe/merged" 2>/dev/null; then
    ok=true
    umount "$probe/merged"
  fi
  rm -rf "$probe"
  $ok
}

mkdir -p "$STORE"
driver=${FLOWGATE_IMAGE_DRIVER:-}
if [ -z "$driver" ] && [ -s "$STORE/driver" ]; then
  driver=$(cat "$STORE/driver")
fi
if [ -z "$driver" ]; then
  if [ "$(id -u)" = 0 ] && overlay_works; then driver=overlay; else driver=vfs; fi
  # Kept only when decided as root: without root the probe cannot tell.
  [ "$(id -u)" != 0 ] || echo "$driver" >"$STORE/driver"
fi
case "$driver" in
  overlay) root=$STORE/overlay runroot=$STORE/overlay-run ;;
  vfs) root=$STORE/storage runroot=$STORE/run ;;
  *) fail "FLOWGATE_IMAGE_DRIVER must be overlay or vfs, not '$driver'." ;;
esac

if [ "${1:-}" = --print-store ]; then
  echo "$root $driver"
  exit 0
fi
exec buildah --root "$root" --runroot "$runroot" --storage-driver "$driver" "$@"
