# Shared helpers for the test bed scripts. Sourced, never executed.
# Everything built lives in $TESTBED_CACHE (outside the repository) so a fresh clone re-uses it.
set -euo pipefail

TESTBED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$TESTBED_DIR/../.." && pwd)
# shellcheck source=versions.env
source "$TESTBED_DIR/versions.env"
# shellcheck source=versions-apps.env
source "$TESTBED_DIR/versions-apps.env"

TESTBED_CACHE=${TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kind-cluster-testbed}
TESTBED_BIN=$TESTBED_CACHE/bin
mkdir -p "$TESTBED_BIN" "$TESTBED_CACHE/logs"

log() { printf '[testbed] %s\n' "$*" >&2; }
die() { printf '[testbed] ERROR: %s\n' "$*" >&2; exit 1; }

# step NAME OUTPUT COMMAND...: run COMMAND unless OUTPUT exists; print the step's wall time either way.
# OUTPUT is a file or directory that only a successful run leaves behind (write to a temp name, then mv).
step() {
  local name=$1 output=$2; shift 2
  if [[ -e $output ]]; then
    log "$(printf '%-28s cached' "$name")"
    return 0
  fi
  local start=$SECONDS
  log "$(printf '%-28s building...' "$name")"
  "$@"
  [[ -e $output ]] || die "step '$name' finished but did not produce $output"
  log "$(printf '%-28s done in %ds' "$name" $((SECONDS - start)))"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# step_image NAME TAG COMMAND...: like step, for a Docker image that COMMAND builds as TAG.
step_image() {
  local name=$1 tag=$2; shift 2
  if image_exists "$tag"; then
    log "$(printf '%-28s cached (%s)' "$name" "$tag")"
    return 0
  fi
  local start=$SECONDS
  log "$(printf '%-28s building %s...' "$name" "$tag")"
  "$@"
  image_exists "$tag" || die "step '$name' finished but image $tag does not exist"
  log "$(printf '%-28s done in %ds' "$name" $((SECONDS - start)))"
}

# build_image TAG DIR: the classic builder on a prepared context (no buildx here).
build_image() {
  local log=$TESTBED_CACHE/logs/build-${1//[\/:]/_}.log
  DOCKER_BUILDKIT=0 docker build -t "$1" "$2" >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "docker build of $1 failed; see $log"; }
}

# A short hash of files, so that images built from them are rebuilt when they change.
content_hash() { cat "$@" | sha256sum | cut -c1-10; }

# --- Building Go modules (shared by binaries.sh and flux.sh) ---

# go_install OUT_DIR PACKAGE@VERSION [go flags...]: a module without replace directives.
go_install() {
  local out=$1 pkg=$2; shift 2
  GOBIN=$out nice go install -trimpath "$@" "$pkg"
}

# module_dir MODULE VERSION: the module's source in the (read-only) module cache, downloaded if needed.
module_dir() { go mod download -json "$1@$2" | jq -r .Dir; }

# go_mod_requirement MODULE VERSION DEPENDENCY: the version of DEPENDENCY that MODULE's go.mod requires.
go_mod_requirement() {
  awk -v dep="$3" '$1 == dep && $2 ~ /^v/ {print $2; exit}' "$(go mod download -json "$1@$2" | jq -r .GoMod)"
}

# kubectl's built-in kustomize: the test bed's own kubectl, else the machine's.
kustomize_build() {
  local kubectl=$TESTBED_BIN/kubectl
  [[ -x $kubectl ]] || kubectl=$(command -v kubectl) || die "no kubectl to run kustomize with"
  "$kubectl" kustomize "$1"
}

# wrapper_replaces GO_MOD STAGED_VERSION: the replace lines a wrapper of that go.mod needs. A
# dependency's replace directives are ignored, so the wrapper must restate them:
# - a local path in a `replace (...)` block (Kubernetes' staging modules, etcd's siblings) becomes the
#   same module at STAGED_VERSION, its published tag;
# - a replacement by another module version (the Flux controllers pin a go-digest commit that has
#   BLAKE3) is copied as it is.
# A single-line local replace (`replace x/api => ./api`, the Flux controllers' own API modules) is
# dropped: those modules require their API at a real tagged version, which the graph then uses.
wrapper_replaces() {
  awk -v staged="$2" '
    function emit(spec, in_block,   sides, old) {
      sub(/[ \t]*\/\/.*$/, "", spec)
      split(spec, sides, /[ \t]*=>[ \t]*/)
      if (sides[2] !~ /^\.\.?\//) { print "\t" spec; return }
      split(sides[1], old, /[ \t]+/)
      if (in_block && old[2] == "") print "\t" old[1] " => " old[1] " " staged
    }
    /^replace \(/ { block = 1; next }
    block && /^\)/ { block = 0; next }
    block && /=>/ { spec = $0; sub(/^[ \t]+/, "", spec); emit(spec, 1); next }
    /^replace [^(]/ { spec = $0; sub(/^replace[ \t]+/, "", spec); emit(spec, 0) }
  ' "$1"
}

# wrapper_module DIR MODULE VERSION STAGED_VERSION [--pin MODULE@VERSION]... PACKAGE...: a module that
# requires MODULE at VERSION with the replace lines above, and each --pin as a replace too (for a
# dependency version that the Go module proxy here does not serve; see versions.env). Needed where
# `go install pkg@version` refuses a go.mod with replace or exclude directives.
# `go mod tidy -e`: tidy also loads the tests of MODULE's packages, whose imports the proxy may lack
# (source-controller's tests import helmtestserver, which it does not serve); the build that follows
# still fails loudly on any module it needs and cannot get.
wrapper_module() {
  local dir=$1 module=$2 version=$3 staged=$4 upstream pins=() pin; shift 4
  while [[ ${1:-} == --pin ]]; do pins+=("$2"); shift 2; done
  mkdir -p "$dir"
  upstream="$(go mod download -json "$module@$version" | jq -r .GoMod)"
  {
    echo "module testbed.local/wrapper"
    grep -E '^(go|godebug) ' "$upstream"
    echo "require $module $version"
    echo "replace ("
    wrapper_replaces "$upstream" "$staged"
    for pin in "${pins[@]}"; do echo "	${pin%@*} => ${pin%@*} ${pin#*@}"; done
    echo ")"
  } >"$dir/go.mod"
  {
    printf '//go:build tools\n\npackage wrapper\n\nimport (\n'
    printf '\t_ "%s"\n' "$@"
    printf ')\n'
  } >"$dir/tools.go"
  (cd "$dir" && go mod tidy -e)
}

# wrapper_build DIR OUT_DIR [go build flags...] -- PACKAGE...: builds inside a wrapper module.
wrapper_build() {
  local dir=$1 out=$2 flags=(); shift 2
  while [[ $1 != -- ]]; do flags+=("$1"); shift; done
  shift
  (cd "$dir" && nice go build -trimpath "${flags[@]}" -o "$out/" "$@")
}

# scratch_image TAG BINARY NAME: FROM scratch with a static BINARY as /usr/local/bin/NAME and a CA
# bundle (for HTTPS to Git hosts, registries, APIs), running as 65534: Deployments that set
# runAsNonRoot can only be checked by the kubelet against a numeric user.
scratch_image() {
  local tag=$1 binary=$2 name=$3 context
  context=$(mktemp -d)
  cp "$binary" "$context/$name"
  mkdir -p "$context/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$context/etc/ssl/certs/"
  cat >"$context/Dockerfile" <<DOCKERFILE
FROM scratch
COPY etc/ /etc/
COPY $name /usr/local/bin/$name
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/$name"]
DOCKERFILE
  build_image "$tag" "$context"
  rm -rf "$context"
}

# The Flux controller images flux.sh builds and images.sh preloads, named as `flux install` asks for
# them (its default registry ghcr.io/fluxcd, the tags of the controllers' own kustomizations).
flux_images() {
  echo "ghcr.io/fluxcd/source-controller:$SOURCE_CONTROLLER_VERSION"
  echo "ghcr.io/fluxcd/kustomize-controller:$KUSTOMIZE_CONTROLLER_VERSION"
}

# mirror_version VERSION: the version the test bed's download mirror serves a tool under, and the
# Feature options ask for. Its binaries are built here from source, so they are not the upstream
# release files whose sha256 install.sh pins for VERSION; a pinned version's hash always wins over a
# mirror's .sha256, and rightly refuses them. A label of their own (v0.30.0-testbed) is a version
# install.sh does not pin: it is checked against the mirror's .sha256, as any unpinned version is.
mirror_version() { echo "$1-testbed"; }

# The machine's own Debian mirror, as apt is configured here (TESTBED_DEBIAN_MIRROR overrides it).
debian_mirror() {
  local url=${TESTBED_DEBIAN_MIRROR:-}
  [[ -n $url ]] || url=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [[ -n $url ]] || url=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [[ -n $url ]] || die "no Debian mirror found in the apt sources of this machine"
  echo "$url"
}

# debootstrap_tar SUITE PACKAGES OUT.tar: a debootstrap minbase of SUITE with PACKAGES, as a tarball
# without apt's downloads and lists.
debootstrap_tar() {
  local suite=$1 packages=$2 out=$3 name dir
  name=$(basename "$out" .tar)
  command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install -y debootstrap"
  dir=$(mktemp -d "$(dirname "$out")/$name.XXXX")
  nice debootstrap --variant=minbase --include="$packages" "$suite" "$dir" "$(debian_mirror)" >"$TESTBED_CACHE/logs/debootstrap-$name.log" 2>&1 ||
    { rm -rf "$dir"; die "debootstrap of $name failed; see $TESTBED_CACHE/logs/debootstrap-$name.log"; }
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -cf "$out.tmp" . && mv "$out.tmp" "$out"
  rm -rf "$dir"
}
