//go:build tools

// Package tools pins the collector the testbed runs.
package tools

import _ "github.com/netsampler/goflow2/v2/cmd/goflow2"
