//go:build tools

// Package tools keeps the requirement on helm alive through `go mod tidy`.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
