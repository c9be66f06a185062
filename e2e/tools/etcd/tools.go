//go:build tools

// Package tools keeps the requirement on etcd's server alive through `go mod tidy`.
package tools

import _ "go.etcd.io/etcd/server/v3"
