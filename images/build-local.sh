#!/usr/bin/env bash
# Builds the project's container images without Docker or a registry, as OCI archives that
# `ctr -n k8s.io images import FILE` imports under the names the chart and the controller default to:
#
#   git-events-runner     ghcr.io/git-events-runner/git-events-runner:v<appVersion>     (images/Dockerfile, controller)
#   git-events-admission  ghcr.io/git-events-runner/git-events-admission:v<appVersion>  (images/Dockerfile, admission)
#   action-worker         ghcr.io/git-events-runner/action-worker:v<appVersion>         (images/action-worker/Dockerfile)
#   pause                 registry.k8s.io/pause:3.10.1  (the pod sandbox, compiled from Kubernetes' build/pause/linux/pause.c)
#
# Usage: build-local.sh [--tools-bin DIR] [--bundle-dir DIR] [NAME ...]   (default: all four)
#   --tools-bin   directory with kubectl and helm (last line of `bash e2e/tools/build.sh control-plane`);
#                 needed for action-worker only
#   --bundle-dir  directory with git-events-runner.mjs and git-events-admission.mjs (default dist/bundle,
#                 made by `npm run bundle`)
# Prints one line per image on stdout, "NAME<TAB>ARCHIVE"; progress goes to stderr.
#
# The Debian parts come from mmdebstrap (bookworm, the Debian mirror), the rest is copied from this
# machine: the Node binary behind node_modules/.bin/node, the bundles, the locally built kubectl and helm.
# Every layer and image is cached by content under $GER_IMAGES_CACHE (default
# ~/.cache/git-events-runner/images): its key is a SHA-256 over this script's text and the layer's inputs,
# so a run with nothing changed only hashes its inputs. The Debian layers' keys do not include the
# mirror's state: delete their cache entries (base-*) to pick up Debian updates.
# Reproducible: fixed SOURCE_DATE_EPOCH, sorted tars with fixed owners and times, gzip -n, no history,
# JSON written byte for byte by this script; the same inputs and mirror content give the same digests.
set -euo pipefail

self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
root="$(cd "$(dirname "$self")/.." && pwd)"

log() { printf '[images] %s\n' "$*" >&2; }
die() {
  printf '[images] error: %s\n' "$*" >&2
  exit 1
}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$self" >&2; }

tools_bin=''
bundle_dir="$root/dist/bundle"
wanted=()
while (($#)); do
  case $1 in
  --tools-bin) tools_bin=${2:?--tools-bin needs a directory}; shift 2 ;;
  --bundle-dir) bundle_dir=${2:?--bundle-dir needs a directory}; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  git-events-runner | git-events-admission | action-worker | pause) wanted+=("$1"); shift ;;
  *) usage; die "unknown argument: $1" ;;
  esac
done
((${#wanted[@]})) || wanted=(git-events-runner git-events-admission action-worker pause)
want() { [[ " ${wanted[*]} " == *" $1 "* ]]; }

# A constant, not the last commit's time: a commit that changes nothing in an image must not change
# the image. 2025-01-01T00:00:00Z.
export SOURCE_DATE_EPOCH=1735689600
created=2025-01-01T00:00:00Z
export LC_ALL=C TZ=UTC
umask 022

app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$root/charts/git-events-runner/Chart.yaml")
[[ -n $app_version ]] || die "no appVersion in charts/git-events-runner/Chart.yaml"
tag="v$app_version"
declare -A refs=(
  [git-events-runner]="ghcr.io/git-events-runner/git-events-runner:$tag"
  [git-events-admission]="ghcr.io/git-events-runner/git-events-admission:$tag"
  [action-worker]="ghcr.io/git-events-runner/action-worker:$tag"
  [pause]="registry.k8s.io/pause:3.10.1"
)

# mmdebstrap's root mode (no user namespaces): the root file systems are written as directories with
# their real owners, then packed.
((EUID == 0)) || die "run as root (mmdebstrap writes the Debian root file systems with their owners)"
for cmd in mmdebstrap sha256sum gzip tar flock; do
  command -v "$cmd" >/dev/null || die "$cmd is not installed (apt-get install mmdebstrap gzip tar util-linux)"
done
arch=$(dpkg --print-architecture) # amd64 and arm64 are spelled the same in Debian and OCI

cache="${GER_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/git-events-runner/images}"
mkdir -p "$cache"
# Concurrent runs (several shells, test processes) wait for each other instead of building twice.
exec 9>"$cache/.lock"
flock 9
# Under the lock every temporary directory is this run's: an interrupted run's leftovers go first.
# Never across file systems: an mmdebstrap killed by SIGKILL may leave /proc or /sys mounted in its
# root file system.
rm -rf --one-file-system "$cache"/.tmp-* ||
  die "could not remove $cache/.tmp-*: unmount what is mounted below it (findmnt | grep '$cache') and retry"
trap 'rm -rf --one-file-system "$cache"/.tmp-* || true' EXIT

size() { numfmt --to=iec-i --suffix=B --format=%.1f "$(stat -c %s "$1")"; }
sha_file() { sha256sum "$1" | cut -d' ' -f1; }
sha_text() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
script_sha=$(sha_file "$self")
key() { sha_text "$script_sha $*"; } # a cache key: this script's text and the given inputs

# Deterministic tar of a staging directory's entries: sorted, fixed time, root-owned, no pax times.
pack() { # out.tar dir
  (cd "$2" && shopt -s dotglob && tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 \
    --numeric-owner --format=gnu -cf "$1" -- *)
}

# Removes the entries matching PATTERN beyond the newest KEEP (newest by use: a cache hit touches its
# entry) that were not used for an hour. Not just one per name: another run (another checkout, other
# code) may be importing an archive of an older key right now, whatever was built since.
KEEP=3
evict() { # pattern
  local old e
  # shellcheck disable=SC2012,SC2086 # names are ours (NAME-<hex>); the pattern is a glob
  old=$(cd "$cache" && ls -1dt -- $1 2>/dev/null | tail -n +$((KEEP + 1)))
  for e in $old; do
    [[ -n $(find "$cache/$e" -maxdepth 0 -mmin +60 2>/dev/null) ]] && rm -rf -- "${cache:?}/$e"
  done
  return 0
}

# A layer cached under $cache/NAME-KEY: layer.tar.gz and its digests. `builder DIR ARGS...` writes
# DIR/layer.tar. Sets layer_dir. Of the entries of one NAME, the newest KEEP stay.
layer() { # name key builder [args...]
  local name=$1 k=$2 builder=$3
  shift 3
  layer_dir="$cache/$name-${k:0:20}"
  if [[ -f $layer_dir/meta ]]; then
    touch "$layer_dir"
    log "$name: cached ($(basename "$layer_dir"))"
    return
  fi
  log "$name: building..."
  local start=$SECONDS tmp
  tmp=$(mktemp -d "$cache/.tmp-XXXXXX")
  chmod 0755 "$tmp" # apt downloads as _apt into the root file system below it
  "$builder" "$tmp" "$@"
  local diffid
  diffid=$(sha_file "$tmp/layer.tar")
  gzip -n -6 <"$tmp/layer.tar" >"$tmp/layer.tar.gz"
  printf 'diffid=%s\ndigest=%s\nsize=%s\n' "$diffid" "$(sha_file "$tmp/layer.tar.gz")" \
    "$(stat -c %s "$tmp/layer.tar.gz")" >"$tmp/meta"
  # Only the result stays (staging directories and the uncompressed tar go).
  find "$tmp" -mindepth 1 -maxdepth 1 ! -name layer.tar.gz ! -name meta -exec rm -rf {} +
  mv "$tmp" "$layer_dir"
  evict "$name-*"
  log "$name: built in $((SECONDS - start))s ($(size "$layer_dir/layer.tar.gz") gzipped)"
}

mirrors=(
  'deb http://deb.debian.org/debian bookworm main'
  'deb http://deb.debian.org/debian bookworm-updates main'
  'deb http://deb.debian.org/debian-security bookworm-security main'
)

# A Debian bookworm root file system from mmdebstrap in DIR/rootfs, then trimmed: no documentation
# or translations (as debian:*-slim; copyright files stay), no device nodes (the runtime mounts /dev),
# none of the host's files that mmdebstrap copies in (kubelet and containerd provide resolv.conf and
# hostname). Directory output rather than mmdebstrap's tar: the trimming happens after mmdebstrap's
# own cleanup, which needs apt's directories.
debian_rootfs() { # dir variant packages [mmdebstrap options...]
  local dir=$1 variant=$2 packages=$3
  shift 3
  mmdebstrap --variant="$variant" --architectures="$arch" --include="$packages" --format=directory \
    "$@" bookworm "$dir/rootfs" "${mirrors[@]}" >&2
  (
    cd "$dir/rootfs"
    rm -rf dev/* etc/resolv.conf etc/hostname usr/share/man usr/share/info usr/share/locale \
      usr/share/lintian usr/share/linda
    if [[ -d usr/share/doc ]]; then
      find usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
      find usr/share/doc -mindepth 1 -type d -empty -delete
    fi
    chmod 0755 .
    chmod 1777 tmp
  )
}

# The tar mmdebstrap itself would write: sorted, times clamped to SOURCE_DATE_EPOCH, numeric owners
# kept (the worker's home and workdir belong to 65532), no atime/ctime.
pack_rootfs() { # out.tar dir
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --numeric-owner --one-file-system \
    --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime --xattrs \
    -C "$2" -cf "$1" .
}

# The node images' base (what gcr.io/distroless/nodejs24-debian12 gives): the libraries Node links
# against, time zone data and CA certificates, extracted without running maintainer scripts: no shell,
# no dpkg, no apt, no /etc/passwd. ca-certificates' postinst would write the bundle: it is made here
# as update-ca-certificates makes it, the certificates concatenated in order.
node_base_packages=libc6,libstdc++6,libgcc-s1,tzdata,ca-certificates
build_node_base() { # dir
  debian_rootfs "$1" extract "$node_base_packages"
  (
    cd "$1/rootfs"
    rm -rf etc/apt etc/dpkg etc/fstab var/cache/apt var/cache/debconf var/lib/apt var/lib/dpkg var/log
    mkdir -p etc/ssl/certs
    # shellcheck disable=SC1003 # sed's "append a newline where the file lacks one", not an escape
    find usr/share/ca-certificates -name '*.crt' | sort | while read -r c; do sed -e '$a\' "$c"; done \
      >etc/ssl/certs/ca-certificates.crt
    [[ -s etc/ssl/certs/ca-certificates.crt ]] || die "no CA certificates in the node base"
  )
  pack_rootfs "$1/layer.tar" "$1/rootfs"
}

# The action worker's base: debian:bookworm-slim with the Dockerfile's packages and user.
worker_packages=bash,ca-certificates,curl,gettext-base,git,jq,make,openssh-client,tini
build_worker_base() { # dir
  # shellcheck disable=SC2016 # the hooks' "$1" (the root file system) is mmdebstrap's to expand
  debian_rootfs "$1" minbase "$worker_packages" \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook='chroot "$1" groupadd --gid 65532 runner' \
    --customize-hook='chroot "$1" useradd --uid 65532 --gid 65532 --home-dir /home/runner --create-home --shell /bin/bash runner'
  (
    cd "$1/rootfs"
    # shadow's backups of the files useradd changed
    rm -f etc/passwd- etc/group- etc/shadow- etc/gshadow- etc/subuid- etc/subgid-
    install -d -o 65532 -g 65532 -m 0755 action_workdir
  )
  pack_rootfs "$1/layer.tar" "$1/rootfs"
}

build_files_layer() { # dir then pairs: source target-path mode ...
  local dir=$1
  shift
  mkdir -p "$dir/root"
  while (($#)); do
    install -D -m "$3" "$1" "$dir/root/$2"
    shift 3
  done
  # install -D creates parents with the umask's 0755; tar stores what is here, not the host's modes.
  pack "$dir/layer.tar" "$dir/root"
}

build_pause() { # dir source version
  local dir=$1
  mkdir -p "$dir/src" "$dir/root"
  cp "$2" "$dir/src/pause.c"
  # The Makefile's flags; compiled in a fixed directory from a relative path so that no host path
  # ends up in the binary.
  (cd "$dir/src" && gcc -Os -Wall -Werror -static -DVERSION="$3" -o pause pause.c) >&2
  install -m 0755 "$dir/src/pause" "$dir/root/pause"
  pack "$dir/layer.tar" "$dir/root"
}

json_str() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}
json_list() { # items... -> ["a","b"]
  local out='' item
  for item in "$@"; do out+="${out:+,}$(json_str "$item")"; done
  printf '[%s]' "$out"
}

# Writes an OCI image layout for the layers in layer_dirs and packs it into ARCHIVE (an OCI archive).
# ctr import names the image from the io.containerd.image.name annotation; ref.name is the tag, as
# in `skopeo copy oci-archive:ARCHIVE:TAG ...`.
assemble() { # archive ref config-fields(json, without rootfs) layer-dirs...
  local archive=$1 ref=$2 fields=$3
  shift 3
  local tmp oci diffids='' layers='' d
  tmp=$(mktemp -d "$cache/.tmp-XXXXXX")
  oci="$tmp/oci"
  mkdir -p "$oci/blobs/sha256"
  for d in "$@"; do
    local diffid digest size
    diffid=$(sed -n 's/^diffid=//p' "$d/meta")
    digest=$(sed -n 's/^digest=//p' "$d/meta")
    size=$(sed -n 's/^size=//p' "$d/meta")
    ln "$d/layer.tar.gz" "$oci/blobs/sha256/$digest" 2>/dev/null || cp "$d/layer.tar.gz" "$oci/blobs/sha256/$digest"
    diffids+="${diffids:+,}\"sha256:$diffid\""
    layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$digest\",\"size\":$size}"
  done
  blob() { # json -> sets blob_digest, blob_size
    printf '%s' "$1" >"$oci/blob.tmp"
    blob_digest=$(sha_file "$oci/blob.tmp")
    blob_size=$(stat -c %s "$oci/blob.tmp")
    mv "$oci/blob.tmp" "$oci/blobs/sha256/$blob_digest"
  }
  blob "{\"created\":\"$created\",\"architecture\":\"$arch\",\"os\":\"linux\",\"config\":{$fields},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$diffids]}}"
  blob "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$blob_digest\",\"size\":$blob_size},\"layers\":[$layers]}"
  printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$blob_digest\",\"size\":$blob_size,\"annotations\":{\"io.containerd.image.name\":$(json_str "$ref"),\"org.opencontainers.image.ref.name\":$(json_str "${ref##*:}")}}]}" >"$oci/index.json"
  printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
  printf 'sha256:%s\n' "$blob_digest" >"$tmp/manifest-digest"
  pack "$tmp/archive.tar" "$oci"
  mv "$tmp/archive.tar" "$archive"
  mv "$tmp/manifest-digest" "$archive.digest"
  rm -rf "$tmp"
}

# An image cached under $cache/image-SHORT-KEY/SHORT.oci.tar. Sets archive.
image() { # short config-fields layer-dirs...
  local short=$1 fields=$2
  shift 2
  local ref=${refs[$short]} k d
  k=$(key "image $ref $fields $(for d in "$@"; do basename "$d"; done)")
  local dir="$cache/image-$short-${k:0:20}"
  archive="$dir/$short.oci.tar"
  if [[ -f $archive ]]; then
    touch "$dir"
    log "$ref: cached ($archive)"
    return
  fi
  local tmp
  tmp=$(mktemp -d "$cache/.tmp-XXXXXX")
  assemble "$tmp/$short.oci.tar" "$ref" "$fields" "$@"
  chmod 0755 "$tmp"
  mv "$tmp" "$dir"
  evict "image-$short-*"
  log "$ref: $archive ($(size "$archive"), manifest $(cat "$archive.digest"))"
}

path_env='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
declare -A archives=()

if want git-events-runner || want git-events-admission; then
  node=$(readlink -f "$root/node_modules/.bin/node") || die "node_modules/.bin/node is missing: run npm install"
  [[ -x $node ]] || die "$node is not executable"
  node_version=$("$node" --version)
  [[ $node_version == v24.* ]] || die "$node is $node_version, not Node 24"
  for short in git-events-runner git-events-admission; do
    ! want "$short" || [[ -f $bundle_dir/$short.mjs ]] || die "$bundle_dir/$short.mjs is missing: run npm run bundle first"
  done
  layer base-node "$(key "base-node $arch $node_base_packages ${mirrors[*]}")" build_node_base
  base_node=$layer_dir
  log "node: $node ($node_version)"
  layer node "$(key "node $(sha_file "$node")")" \
    build_files_layer "$node" nodejs/bin/node 0755
  node_layer=$layer_dir
  for short in git-events-runner git-events-admission; do
    want "$short" || continue
    mjs="$bundle_dir/$short.mjs"
    layer "app-$short" "$(key "app $short $(sha_file "$mjs")")" build_files_layer "$mjs" "app/$short.mjs" 0644
    if [[ $short == git-events-runner ]]; then
      ports='"8080/tcp":{},"3000/tcp":{}'
      cmd=(--help)
    else
      ports='"8443/tcp":{}'
      cmd=(serve --help)
    fi
    image "$short" "\"User\":\"65532:65532\",\"ExposedPorts\":{$ports},\"Env\":$(json_list "$path_env" SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt NODE_ENV=production),\"Entrypoint\":$(json_list /nodejs/bin/node "/app/$short.mjs"),\"Cmd\":$(json_list "${cmd[@]}")" \
      "$base_node" "$node_layer" "$layer_dir"
    archives[$short]=$archive
  done
fi

if want action-worker; then
  [[ -n $tools_bin ]] || die "action-worker needs --tools-bin DIR (kubectl and helm: bash e2e/tools/build.sh control-plane)"
  kubectl=$(readlink -f "$tools_bin/kubectl" || true)
  [[ -n $kubectl && -x $kubectl ]] || die "no kubectl in $tools_bin"
  helm=$(readlink -f "$tools_bin/helm" || true)
  [[ -n $helm && -x $helm ]] || die "no helm in $tools_bin"
  layer base-worker "$(key "base-worker $arch $worker_packages ${mirrors[*]}")" build_worker_base
  base_worker=$layer_dir
  layer tools "$(key "tools $(sha_file "$kubectl") $(sha_file "$helm")")" \
    build_files_layer "$kubectl" usr/local/bin/kubectl 0755 "$helm" usr/local/bin/helm 0755
  image action-worker "\"User\":\"65532:65532\",\"Env\":$(json_list "$path_env" HOME=/home/runner),\"Entrypoint\":$(json_list /usr/bin/tini --),\"Cmd\":$(json_list /bin/bash),\"WorkingDir\":\"/action_workdir\"" \
    "$base_worker" "$layer_dir"
  archives[action-worker]=$archive
fi

if want pause; then
  command -v gcc >/dev/null || die "gcc is not installed (apt-get install gcc libc6-dev)"
  command -v go >/dev/null || die "go is not installed (it finds Kubernetes' pause.c in the module cache)"
  kube_dir=$(cd "$root/e2e/tools/kube" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go list -m -f '{{.Dir}}' k8s.io/kubernetes)
  if [[ -z $kube_dir || ! -d $kube_dir ]]; then
    (cd "$root/e2e/tools/kube" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download k8s.io/kubernetes) >&2
    kube_dir=$(cd "$root/e2e/tools/kube" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go list -m -f '{{.Dir}}' k8s.io/kubernetes)
  fi
  pause_c="$kube_dir/build/pause/linux/pause.c"
  [[ -f $pause_c ]] || die "$pause_c is missing"
  # pause -v prints this: the Makefile's TAG and, for its git revision, the module version.
  pause_tag=$(sed -n 's/^TAG ?= *//p' "$kube_dir/build/pause/Makefile")
  pause_version="v$pause_tag-${kube_dir##*@}"
  layer pause "$(key "pause $pause_version $(sha_file "$pause_c") $(gcc -dumpfullversion) $(getconf GNU_LIBC_VERSION)")" \
    build_pause "$pause_c" "$pause_version"
  image pause "\"User\":\"65535:65535\",\"Env\":$(json_list "$path_env"),\"Entrypoint\":$(json_list /pause)" "$layer_dir"
  archives[pause]=$archive
fi

for short in "${wanted[@]}"; do
  printf '%s\t%s\n' "${refs[$short]}" "${archives[$short]}"
done
