//go:build tools

// Package tools keeps the requirement on k8s.io/kubernetes alive through `go mod tidy`:
// the control plane (kube-apiserver), the node (kube-controller-manager, kube-scheduler, kubelet,
// kube-proxy) and kubectl are built from it for tests and local development.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
