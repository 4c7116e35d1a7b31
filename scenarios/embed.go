// Package scenarios is labctl's built-in scenarios as data: a directory per
// scenario holding scenario.yaml and a matchbox-layout data/, embedded in the
// binary. Users copy these directories; lab/scenario reads and checks them.
package scenarios

import "embed"

// FS holds the built-in scenarios, one directory each.
//
//go:embed all:*/scenario.yaml all:*/data
var FS embed.FS
