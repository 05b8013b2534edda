#!/usr/bin/env bash
# Builds the real binaries the testbed runs (kube-apiserver, kube-controller-manager, kubectl, etcd,
# goflow2), helm (which renders the chart in deploy/helm), the benchmark's light WebSocket
# client (subscribers, our own source in hack/subscribers) and olm-validate (operator-framework/api's
# validators and OLM's CRDs, for the bundle in bundle/; our own source in hack/olm) from the pinned
# Go modules under hack/,
# caches them outside the clone keyed by go.mod, go.sum and our own sources, and links them into .bin/. A second run finds the cache
# and returns at once. Name binaries to build only those: hack/build-binaries.sh helm goflow2
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CACHE=${FLOWGATE_CACHE:-$HOME/.cache/flowgate}
BIN=$ROOT/.bin
mkdir -p "$BIN" "$CACHE/bin" "$CACHE/logs"
export CGO_ENABLED=0 GOFLAGS=-mod=mod

# module_version MODULE_DIR MODULE: the version go.mod requires.
module_version() {
  sed -n "s#^[[:space:]]*\(require \)\{0,1\}$2 \(v[^ ]*\).*#\2#p" "$HERE/$1/go.mod" | head -n 1
}

# Link-time settings a command needs beyond -s: helm's version, and the Kubernetes version it
# renders and lints charts for by default (its client-go's, as helm's own Makefile sets them).
extra_ldflags() {
  case "$1" in
    helm)
      local helm_version k8s_minor
      helm_version=$(module_version helm helm.sh/helm/v3)
      k8s_minor=$(module_version helm k8s.io/client-go | cut -d. -f2)
      echo "-X helm.sh/helm/v3/internal/version.version=$helm_version" \
        "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor" \
        "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
      ;;
  esac
}

# build MODULE_DIR NAME PACKAGE
build() {
  local dir=$HERE/$1 name=$2 pkg=$3 key out log start ldflags
  ldflags=$(extra_ldflags "$name")
  # Our own Go sources are part of the key; tools.go only pins an upstream command.
  key=$( { cat "$dir/go.mod" "$dir/go.sum"; find "$dir" -maxdepth 1 -name '*.go' ! -name tools.go | sort | xargs -r cat
           [ -z "$ldflags" ] || echo "$ldflags"; } | sha256sum | cut -c1-12)
  out=$CACHE/bin/$1-$key
  # One build of a binary at a time, whichever clone asks: a second waits, then finds it cached.
  exec 9>"$CACHE/bin/.$name-$key.lock"
  flock 9
  if [ -x "$out/$name" ]; then
    ln -sfn "$out/$name" "$BIN/$name"
    echo "flowgate: $name ready (cached)"
    return
  fi
  if ! command -v go >/dev/null; then
    echo "flowgate: building $name needs the Go toolchain (1.26 or newer, as hack/*/go.mod declare), and go is not on PATH." >&2
    exit 1
  fi
  log=$CACHE/logs/$1-$name.log
  start=$(date +%s)
  echo "flowgate: building $name from $pkg (first time only; kube-apiserver takes 10-20 min on 2 cores) ..."
  rm -rf "$out.tmp-$name" && mkdir -p "$out.tmp-$name"
  ( cd "$dir" && go build -trimpath -ldflags="-s $ldflags" -o "$out.tmp-$name/$name" "$pkg" ) >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    kill -0 "$pid" 2>/dev/null && echo "flowgate:   ... still building $name ($(( $(date +%s) - start ))s)"
  done
  if ! wait "$pid"; then
    echo "flowgate: building $name failed; the Go output is in $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  mkdir -p "$out" && mv "$out.tmp-$name/$name" "$out/$name" && rmdir "$out.tmp-$name"
  ln -sfn "$out/$name" "$BIN/$name"
  echo "flowgate: built $name in $(( $(date +%s) - start ))s"
}

# NAME MODULE_DIR PACKAGE
TARGETS=(
  "etcd etcd go.etcd.io/etcd/server/v3"
  "goflow2 goflow2 github.com/netsampler/goflow2/v2/cmd/goflow2"
  "kube-apiserver kube k8s.io/kubernetes/cmd/kube-apiserver"
  "kubectl kube k8s.io/kubernetes/cmd/kubectl"
  "kube-controller-manager kube k8s.io/kubernetes/cmd/kube-controller-manager"
  "helm helm helm.sh/helm/v3/cmd/helm"
  "subscribers subscribers ."
  "olm-validate olm flowgate.dev/hack/olm"
)
wanted=("$@")
known=()
for target in "${TARGETS[@]}"; do known+=("${target%% *}"); done
for name in "${wanted[@]}"; do
  if [[ " ${known[*]} " != *" $name "* ]]; then
    echo "flowgate: there is no binary called $name to build; choose from: ${known[*]}." >&2
    exit 2
  fi
done
for target in "${TARGETS[@]}"; do
  read -r name dir pkg <<<"$target"
  if [ ${#wanted[@]} -eq 0 ] || [[ " ${wanted[*]} " == *" $name "* ]]; then
    build "$dir" "$name" "$pkg"
  fi
done
