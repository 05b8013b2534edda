//go:build tools

// Package tools pins helm, which renders and lints the chart in deploy/helm.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
