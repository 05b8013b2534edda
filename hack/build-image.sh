#!/usr/bin/env bash
# Builds the container image localhost/flowgate:<version> from the Containerfile with buildah: no
# container daemon and no registry needed.
#
#   hack/build-image.sh [--oci-archive FILE] [--iidfile FILE] [--refresh-base] [--prune]
#
#   --oci-archive FILE  also write the image to FILE as an OCI archive (`podman load -i FILE`,
#                       `skopeo copy oci-archive:FILE docker://REGISTRY/flowgate:TAG`);
#                       or set FLOWGATE_OCI_ARCHIVE=FILE
#   --iidfile FILE      write the image's ID to FILE (to run exactly this image, whatever the tag
#                       names later)
#   --refresh-base      make the Debian base image again (today's packages) before building
#   --prune             afterwards, delete the build's cached layers and older images (with the
#                       vfs driver, a full copy of the file system per layer: gigabytes); the
#                       next build starts from scratch
#
# Images live in their own store, ~/.cache/flowgate/containers (FLOWGATE_IMAGE_STORE), so they
# never mix with another tool's images; hack/buildah.sh runs buildah on it and says why its driver
# is overlay or vfs. To look at the images: hack/buildah.sh images
#
# pip and npm in the build stages trust this machine's CA bundle (/etc/ssl/certs/ca-certificates.crt,
# or FLOWGATE_BUILD_CA_BUNDLE), so the build also works behind a TLS-inspecting proxy; the bundle is
# a build secret and never lands in the image.
#
# The base image localhost/debian:bookworm is made once with debootstrap from this machine's Debian
# mirror (its root file system is cached by date under ~/.cache/flowgate/debootstrap). A second
# run with the same inputs (Containerfile, pyproject.toml, requirements.lock, gateway/, plugin-ui/,
# the pinned goflow2) finds the image labelled with their hash and returns at once, even when another
# checkout sharing the store has moved the tag since. Checkouts sharing a store build one at a
# time.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CACHE=${FLOWGATE_CACHE:-$HOME/.cache/flowgate}
STORE=${FLOWGATE_IMAGE_STORE:-$CACHE/containers}
BASE_IMAGE=localhost/debian:bookworm
OCI_ARCHIVE=${FLOWGATE_OCI_ARCHIVE:-}
IIDFILE=
REFRESH_BASE=false
PRUNE=false
CA_BUNDLE=${FLOWGATE_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
SUITE=bookworm

say() { echo "flowgate: $*"; }
fail() { echo "flowgate: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --oci-archive) [ $# -ge 2 ] || fail "--oci-archive needs a file name, e.g. --oci-archive flowgate.tar."; OCI_ARCHIVE=$2; shift 2 ;;
    --oci-archive=*) OCI_ARCHIVE=${1#*=}; shift ;;
    --iidfile) [ $# -ge 2 ] || fail "--iidfile needs a file name."; IIDFILE=$2; shift 2 ;;
    --iidfile=*) IIDFILE=${1#*=}; shift ;;
    --refresh-base) REFRESH_BASE=true; shift ;;
    --prune) PRUNE=true; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) fail "unknown option $1; see hack/build-image.sh --help." ;;
  esac
done
if [ -n "$OCI_ARCHIVE" ]; then
  mkdir -p "$(dirname "$OCI_ARCHIVE")"
  OCI_ARCHIVE=$(cd "$(dirname "$OCI_ARCHIVE")" && pwd)/$(basename "$OCI_ARCHIVE")
fi

cd "$ROOT"
[ -f plugin-ui/package.json ] \
  || fail "plugin-ui/package.json is missing: the image serves the console plugin built from plugin-ui/, so build the image from a checkout that has it."
[ -f plugin-ui/package-lock.json ] \
  || fail "plugin-ui/package-lock.json is missing: the image installs the plugin's exact dependencies with 'npm ci'; run 'npm install' in plugin-ui/ and commit the lock file."
[ "$(id -u)" = 0 ] || fail "building the image with buildah (its own store, chroot isolation) needs root; run it as root (or sudo make image)."

"$HERE/install-system-deps.sh" image
"$HERE/build-binaries.sh" goflow2
GOFLOW2_DIR=$(dirname "$(readlink -f "$ROOT/.bin/goflow2")")

mkdir -p "$STORE" "$CACHE/logs" "$CACHE/debootstrap"
B=("$HERE/buildah.sh")
read -r STORAGE DRIVER < <("$HERE/buildah.sh" --print-store)

# --- the Debian base image --------------------------------------------------------------------

# apt_uri SUITE: the first URI this machine's apt sources give for SUITE (deb822 or one-line).
apt_uri() {
  local suite=$1 file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk -v suite="$suite" '
      function flush() { if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && enabled != "no" && uris != "") { split(uris, u, " "); print u[1]; found = 1 } types = suites = uris = ""; enabled = "yes" }
      BEGIN { enabled = "yes" }
      /^[[:space:]]*$/ { flush(); if (found) exit; next }
      /^[[:space:]]*#/ { next }
      tolower($1) == "types:" { $1 = ""; types = $0 }
      tolower($1) == "uris:" { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      tolower($1) == "enabled:" { enabled = tolower($2) }
      END { if (!found) flush() }
    ' "$file" | head -n 1
  done
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    awk -v suite="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ } if ($(i + 1) == suite) { print $i; exit } }' "$file"
  done
}

make_base() {
  local day rootfs tarball mirror security log start pid ctr
  day=$(date -u +%Y%m%d)
  tarball=$CACHE/debootstrap/debian-$SUITE-minbase-$day.tar
  if [ ! -f "$tarball" ]; then
    mirror=${FLOWGATE_DEBIAN_MIRROR:-$(apt_uri "$SUITE" | head -n 1)}
    security=${FLOWGATE_DEBIAN_SECURITY_MIRROR:-$(apt_uri "$SUITE-security" | head -n 1)}
    [ -n "$mirror" ] || fail "no Debian mirror for $SUITE in /etc/apt/sources.list(.d); set FLOWGATE_DEBIAN_MIRROR to one (e.g. http://deb.debian.org/debian)."
    security=${security:-http://deb.debian.org/debian-security}
    rootfs=$(mktemp -d "$CACHE/debootstrap/rootfs.XXXXXX")
    log=$CACHE/logs/debootstrap.log
    start=$(date +%s)
    say "making the Debian $SUITE base image with debootstrap from $mirror (about a minute; cached for the day) ..."
    debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      sleep 15
      kill -0 "$pid" 2>/dev/null && say "  ... debootstrap: $(grep -E '^I: ' "$log" | tail -n 1 | cut -c4-) ($(( $(date +%s) - start ))s)"
    done
    if ! wait "$pid"; then
      rm -rf "$rootfs"
      echo "flowgate: debootstrap of Debian $SUITE from $mirror failed; its output is in $log:" >&2
      tail -n 15 "$log" >&2
      exit 1
    fi
    # The image's apt sources: the release, its updates and its security fixes.
    printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
      "$mirror" "$SUITE" "$mirror" "$SUITE" "$security" "$SUITE" >"$rootfs/etc/apt/sources.list"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/bootstrap.log
    tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
    find "$CACHE/debootstrap" -maxdepth 1 -name "debian-$SUITE-minbase-*.tar" ! -name "$(basename "$tarball")" -delete
    say "debootstrap done in $(( $(date +%s) - start ))s ($(du -sh "$tarball" | cut -f1), cached as $tarball)"
  else
    say "using today's cached Debian $SUITE root file system ($tarball)"
  fi
  ctr=$("${B[@]}" from --quiet scratch)
  "${B[@]}" add --quiet "$ctr" "$tarball" / >/dev/null
  "${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash \
    --label "dev.flowgate.debootstrap-date=$day" "$ctr"
  "${B[@]}" commit --quiet --rm "$ctr" "$BASE_IMAGE" >/dev/null
  say "base image $BASE_IMAGE committed"
}

# Checkouts sharing the store make the base and build the image one at a time; the next one then
# finds what the first made. Waiting is said, since a build takes minutes.
LOCKED=false
lock_store() {
  $LOCKED && return
  exec 8>"$STORE/build.lock"
  if ! flock --nonblock 8; then
    say "another build is using the image store $STORE; waiting for it to finish ..."
    flock 8
  fi
  LOCKED=true
}

base_id() { "${B[@]}" inspect --type image --format '{{.FromImageID}}' "$BASE_IMAGE" 2>/dev/null || true; }
BASE_ID=$(base_id)
if $REFRESH_BASE || [ -z "$BASE_ID" ]; then
  lock_store
  BASE_ID=$(base_id)
  if $REFRESH_BASE || [ -z "$BASE_ID" ]; then
    $REFRESH_BASE && rm -f "$CACHE"/debootstrap/debian-$SUITE-minbase-*.tar
    make_base
    BASE_ID=$(base_id)
  fi
fi

# --- the flowgate image -----------------------------------------------------------------------

VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml | head -n 1)
[ -n "$VERSION" ] || fail "pyproject.toml names no version (version = \"...\" under [project])."
IMAGE=localhost/flowgate:$VERSION
INPUTS=(Containerfile .containerignore pyproject.toml requirements.lock gateway plugin-ui hack/goflow2/go.mod hack/goflow2/go.sum)
EXCLUDES=(':!plugin-ui/node_modules' ':!plugin-ui/dist' ':!plugin-ui/dist-standalone' ':!plugin-ui/dist-graphiql'
  ':!gateway/web/plugin' ':!gateway/web/ui' ':!gateway/web/graphiql')

# The git object ids of every input file as it is in the work tree (committed or not), the base
# image and this script: the same hash means the same image.
source_hash() {
  local inputs
  inputs=$(mktemp)
  git ls-files -z --cached --others --exclude-standard --deduplicate -- "${INPUTS[@]}" "${EXCLUDES[@]}" \
    | while IFS= read -r -d '' file; do [ -f "$file" ] && printf '%s\n' "$file"; done \
    | LC_ALL=C sort >"$inputs"
  {
    paste -d ' ' <(git hash-object --stdin-paths <"$inputs") "$inputs"
    echo "base $BASE_ID"
    git hash-object "$HERE/build-image.sh"
  } | sha256sum | cut -c1-16
  rm -f "$inputs"
}
SOURCE_HASH=$(source_hash)
# What the image is made of, named in its labels: the Python lock it installed (the file's hash)
# and the goflow2 module version it carries.
REQUIREMENTS_LOCK=sha256:$(sha256sum requirements.lock | cut -d' ' -f1)
GOFLOW2_VERSION=$(sed -n 's#^[[:space:]]*\(require \)\{0,1\}github.com/netsampler/goflow2/v2 \(v[^ ]*\).*#\2#p' hack/goflow2/go.mod | head -n 1)

# built_image: the ID of the newest flowgate image built from these sources, tagged or not (another
# checkout sharing the store may have moved the tag since). buildah puts --label on every stage's
# image; only the last stage's carries the Containerfile's title.
built_image() {
  local id
  for id in $("${B[@]}" images --noheading --no-trunc --filter "label=dev.flowgate.source-hash=$SOURCE_HASH" \
    --format '{{.CreatedAtRaw}}|{{.ID}}' 2>/dev/null | sort -r | cut -d '|' -f 2); do
    if [ "$("${B[@]}" inspect --type image --format '{{index .OCIv1.Config.Labels "org.opencontainers.image.title"}}' "$id" 2>/dev/null)" = flowgate ]; then
      echo "$id"
      return
    fi
  done
}

ID=$(built_image)
if [ -z "$ID" ]; then
  lock_store
  ID=$(built_image)  # another checkout may have built it while this one waited
fi
BUILT=false
current=$("${B[@]}" inspect --type image --format '{{index .OCIv1.Config.Labels "dev.flowgate.source-hash"}}' "$IMAGE" 2>/dev/null || true)
if [ -n "$ID" ] && [ "$current" = "$SOURCE_HASH" ]; then
  say "image $IMAGE is up to date with the sources (source hash $SOURCE_HASH); nothing to build"
elif [ -n "$ID" ]; then
  "${B[@]}" tag "$ID" "$IMAGE"
  say "image $IMAGE is up to date with the sources (source hash $SOURCE_HASH; built earlier, tagged again); nothing to build"
else
  REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
  [ -z "$(git status --porcelain -- "${INPUTS[@]}" "${EXCLUDES[@]}" 2>/dev/null)" ] || REVISION=$REVISION-dirty
  CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  log=$CACHE/logs/image-build.log
  start=$(date +%s)
  say "building $IMAGE from the Containerfile (first build about 5-10 min; its log: $log) ..."
  secrets=()
  [ ! -f "$CA_BUNDLE" ] || secrets=(--secret "id=ca-bundle,src=$CA_BUNDLE")
  set +e
  "${B[@]}" bud --layers --force-rm --isolation chroot --file Containerfile \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --build-arg "VERSION=$VERSION" \
    --build-arg "REVISION=$REVISION" \
    --build-arg "CREATED=$CREATED" \
    --build-arg "SOURCE_HASH=$SOURCE_HASH" \
    --build-arg "REQUIREMENTS_LOCK=$REQUIREMENTS_LOCK" \
    --build-arg "GOFLOW2_VERSION=$GOFLOW2_VERSION" \
    --label "org.opencontainers.image.version=$VERSION" \
    --label "org.opencontainers.image.revision=$REVISION" \
    --label "org.opencontainers.image.created=$CREATED" \
    --label "dev.flowgate.source-hash=$SOURCE_HASH" \
    --label "dev.flowgate.requirements-lock=$REQUIREMENTS_LOCK" \
    --label "dev.flowgate.goflow2-version=$GOFLOW2_VERSION" \
    --build-context "goflow2=$GOFLOW2_DIR" \
    "${secrets[@]}" \
    --tag "$IMAGE" . 2>&1 \
    | tee "$log" \
    | { grep --line-buffered -E '^(\[[0-9]+/[0-9]+\] )?STEP [0-9]+/[0-9]+' | sed -u -e 's/^\(.\{140\}\).*/\1 .../' -e 's/^/flowgate:   /' || true; }
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    echo "flowgate: building $IMAGE failed; the end of its log ($log):" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
  say "built $IMAGE in $(( $(date +%s) - start ))s"
  BUILT=true
fi

# By ID from here on: another checkout sharing the store may move the tag at any time.
[ -n "$ID" ] || ID=$(built_image)
ID=${ID#sha256:}
[ -n "$ID" ] || fail "the image store holds no image labelled with source hash $SOURCE_HASH after the build; see $CACHE/logs/image-build.log."
[ -z "$IIDFILE" ] || echo "$ID" >"$IIDFILE"
SIZE=$("${B[@]}" images --format '{{.Size}}' "$ID" | head -n 1)
say "image $IMAGE, ID ${ID:0:12}, size $SIZE, source hash $SOURCE_HASH"
if [ -n "$OCI_ARCHIVE" ]; then
  say "writing $IMAGE to the OCI archive $OCI_ARCHIVE ..."
  rm -f "$OCI_ARCHIVE"
  "${B[@]}" push --quiet "$ID" "oci-archive:$OCI_ARCHIVE:$IMAGE"
  say "wrote $OCI_ARCHIVE ($(du -h "$OCI_ARCHIVE" | cut -f1)); load it with: podman load -i $OCI_ARCHIVE"
fi
if $PRUNE; then
  before=$(du -sh "$STORAGE" | cut -f1)
  "${B[@]}" rmi --prune >/dev/null
  say "pruned cached layers: the image store went from $before to $(du -sh "$STORAGE" | cut -f1)"
elif $BUILT; then
  say "the image store $STORAGE ($DRIVER) holds $(du -sh "$STORAGE" | cut -f1); hack/build-image.sh --prune frees what only the layer cache uses"
fi
