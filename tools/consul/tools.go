//go:build tools

// Package tools pins the Consul server that the tests and the distributed launcher run: the
// last open-source (MPL-2.0) release, v1.16.1, built from source with `go build`.
package tools

import _ "github.com/hashicorp/consul"
