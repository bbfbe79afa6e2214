//go:build tools

// Package tools pins Prometheus for building promtool (deploy/validate/tools.sh).
// `go install promtool@version` refuses Prometheus's module (its go.mod has a replace
// directive), so promtool is built inside this module, which repeats that replace.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
