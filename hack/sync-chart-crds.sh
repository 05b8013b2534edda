#!/usr/bin/env bash
# Copies flowgate's CRDs (deploy/crds/*.yaml) into the Helm chart's crds/, and its ClusterRoles
# (deploy/rbac/clusterroles.yaml), the agent's admission policy (deploy/admission/agent-own-node.yaml)
# and the alerts and dashboard (deploy/monitoring/prometheusrule.yaml, dashboard.yaml) into the chart's files/, so the chart installs exactly what deploy/ holds. Helm cannot read files outside a chart, hence copies; run this after changing
# either. With --check it changes nothing and fails if a copy differs (for tests and CI).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHART=$ROOT/deploy/helm/flowgate
check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "flowgate: sync-chart-crds.sh takes only --check, not '$1'." >&2; exit 2 ;;
esac

pairs=()
# deploy/crds/kustomization.yaml is kustomize's, not a CRD: Helm would try to install it.
for crd in "$ROOT"/deploy/crds/*.yaml; do
  [ "$(basename "$crd")" != kustomization.yaml ] || continue
  pairs+=("$crd" "$CHART/crds/$(basename "$crd")")
done
pairs+=("$ROOT/deploy/rbac/clusterroles.yaml" "$CHART/files/clusterroles.yaml")
pairs+=("$ROOT/deploy/admission/agent-own-node.yaml" "$CHART/files/agent-own-node.yaml")
pairs+=("$ROOT/deploy/monitoring/prometheusrule.yaml" "$CHART/files/prometheusrule.yaml")
pairs+=("$ROOT/deploy/monitoring/dashboard.yaml" "$CHART/files/dashboard.yaml")

stale=()
for ((i = 0; i < ${#pairs[@]}; i += 2)); do
  src=${pairs[i]} dst=${pairs[i + 1]}
  cmp -s "$src" "$dst" || stale+=("${dst#"$ROOT"/}")
  $check || { mkdir -p "$(dirname "$dst")"; cp "$src" "$dst"; }
done
# A CRD removed from deploy/crds must leave the chart too, and only CRDs belong in its crds/.
for copy in "$CHART"/crds/*.yaml; do
  [ -e "$copy" ] || continue
  if [ "$(basename "$copy")" = kustomization.yaml ]; then
    stale+=("${copy#"$ROOT"/} (not a CRD)")
  elif [ ! -e "$ROOT/deploy/crds/$(basename "$copy")" ]; then
    stale+=("${copy#"$ROOT"/} (no longer in deploy/crds)")
  else
    continue
  fi
  $check || rm -f "$copy"
done

if $check; then
  if [ ${#stale[@]} -gt 0 ]; then
    echo "flowgate: the Helm chart's copies differ from deploy/: ${stale[*]}; run hack/sync-chart-crds.sh." >&2
    exit 1
  fi
  echo "flowgate: the Helm chart's CRDs, ClusterRoles, admission policy and alerts match deploy/"
elif [ ${#stale[@]} -gt 0 ]; then
  echo "flowgate: updated ${stale[*]}"
else
  echo "flowgate: the Helm chart's CRDs, ClusterRoles, admission policy and alerts already match deploy/"
fi
