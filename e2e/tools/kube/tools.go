//go:build tools

// Package tools keeps the requirement on k8s.io/kubernetes alive through `go mod tidy`:
// kube-apiserver and kubectl are built from it for tests and local development.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
