#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver) and the tools (kubectl, helm) from the Go module
# proxy at the versions pinned in versions.env, into a cache keyed by version outside the git tree.
# A binary is built only when it is missing. Prints the directory holding the binaries on stdout's last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache_root="${GER_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/git-events-runner/tools}"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

mkdir -p "$cache_root"
# Concurrent runs (several shells, a test run) wait for each other instead of building twice.
exec 9>"$cache_root/.lock"
flock 9

log() { printf '[tools] %s\n' "$*" >&2; }

build() { # name dir version package ldflags
  local name=$1 moddir=$2 version=$3 pkg=$4 ldflags=$5
  local out="$cache_root/$name-$version/$name"
  if [[ -x "$out" ]]; then log "$name $version: cached at $out"; return; fi
  mkdir -p "$(dirname "$out")"
  log "$name $version: building (first build takes minutes)..."
  local start=$SECONDS
  (cd "$here/$moddir" && go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
  log "$name $version: built in $((SECONDS - start))s -> $out"
}

minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"

only="${1:-all}"
[[ $only == all || $only == etcd ]] && build etcd etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 "-s -w"
[[ $only == all || $only == kube-apiserver ]] && build kube-apiserver kube "$KUBE_VERSION" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
[[ $only == all || $only == kubectl ]] && build kubectl kube "$KUBE_VERSION" k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
[[ $only == all || $only == helm ]] && build helm helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"

# One directory with links to every binary, for PATH and for the test harness.
bindir="$cache_root/bin-$KUBE_VERSION-$ETCD_VERSION-$HELM_VERSION"
mkdir -p "$bindir"
for pair in "etcd:$ETCD_VERSION" "kube-apiserver:$KUBE_VERSION" "kubectl:$KUBE_VERSION" "helm:$HELM_VERSION"; do
  n=${pair%%:*}; v=${pair#*:}
  [[ -x "$cache_root/$n-$v/$n" ]] && ln -sfn "$cache_root/$n-$v/$n" "$bindir/$n"
done
echo "$bindir"
