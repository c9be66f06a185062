#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver), the node (kube-controller-manager, kube-scheduler,
# kubelet, kube-proxy) and the tools (kubectl, helm) from the Go module proxy at the versions pinned in
# versions.env, into a cache keyed by version and build flags outside the git tree.
# A binary is built only when it is missing. Prints the directory holding the binaries on stdout's last line.
# Usage: build.sh [all|control-plane|node|NAME]   (control-plane: etcd, kube-apiserver, kubectl, helm)
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
  # The flags are part of the key: a binary stamped differently (helm's Kubernetes version) is rebuilt.
  local stamp
  stamp=$(printf '%s' "$ldflags" | sha256sum | cut -c1-8)
  local out="$cache_root/$name-$version-$stamp/$name"
  built[$name]=$out
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

# helm's default Kubernetes version (what `helm template` checks kubeVersion against without
# --kube-version) is the client-go it was built with, as helm's own Makefile stamps it: 1.<client-go minor>.
helm_k8s=$(cd "$here/helm" && go list -m -f '{{.Version}}' k8s.io/client-go)
helm_k8s_minor=$(echo "${helm_k8s#v0.}" | cut -d. -f1)
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$helm_k8s_minor"
done

declare -A built=()
want() { # name group
  [[ $only == all || $only == "$1" || $only == "$2" ]]
}
only="${1:-all}"
want etcd control-plane && build etcd etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 "-s -w"
want kube-apiserver control-plane && build kube-apiserver kube "$KUBE_VERSION" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
want kubectl control-plane && build kubectl kube "$KUBE_VERSION" k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
want helm control-plane && build helm helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm "$helm_ldflags"
for n in kube-controller-manager kube-scheduler kubelet kube-proxy; do
  want "$n" node && build "$n" kube "$KUBE_VERSION" "k8s.io/kubernetes/cmd/$n" "$kube_ldflags"
done

# One directory with links to every binary built or cached, for PATH and for the test harness.
bindir="$cache_root/bin-$KUBE_VERSION-$ETCD_VERSION-$HELM_VERSION"
mkdir -p "$bindir"
for n in "${!built[@]}"; do
  [[ -x "${built[$n]}" ]] && ln -sfn "${built[$n]}" "$bindir/$n"
done
echo "$bindir"
