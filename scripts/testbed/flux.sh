#!/usr/bin/env bash
# Test bed, part 1b: Flux and helm, built from Go modules (no release downloads exist here): the
# source-controller and kustomize-controller binaries and their images, the `flux` CLI with its install
# manifests, and the helm CLI. Needs kubectl from binaries.sh (for kustomize). Each step is skipped when
# its output exists; outputs carry their version in their name, so a version bump builds anew.
#
# How the `flux` CLI gets its install manifests offline:
# `flux install` does not download anything when asked for its own version: it renders manifests that
# the CLI embeds at build time (cmd/flux/manifests/*.yaml, `//go:embed`). Those files are not in the Go
# module: flux2's Makefile generates them by running kustomize on each manifests/bases/<controller>,
# and each base lists the controller's GitHub release assets (<controller>.crds.yaml and
# <controller>.deployment.yaml) as remote resources, which cannot be fetched here. Those two assets
# are themselves `kustomize build config/crd` and `kustomize build config/manager` of the controller's
# repository at that tag (fluxcd's release workflow), and `config/` ships in the controller's Go
# module. So, for each controller built here:
#   1. copy flux2's manifests/ (read-only in the module cache) to a work directory;
#   2. render the controller module's config/crd and config/manager with `kubectl kustomize` into the
#      base, under the release assets' file names, and point the base's kustomization at those local
#      files instead of the URLs (after checking the URLs name the version from versions.env);
#   3. render the base, as flux2's bundle step does, to <controller>.yaml, plus rbac.yaml and
#      policies.yaml;
# then build cmd/flux in a writable copy of the flux2 module with those files in cmd/flux/manifests.
# Only the controllers built here are embedded: `flux install` must be given
# --components=source-controller,kustomize-controller (its default list names helm-controller and
# notification-controller, whose manifests it would not find).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC=$TESTBED_CACHE/src
mkdir -p "$SRC"
export CGO_ENABLED=0

FLUX_MODULE=github.com/fluxcd/flux2/v2
FLUX_CONTROLLERS=(source-controller kustomize-controller)
FLUX_CLI=$TESTBED_BIN/flux-$FLUX_VERSION
FLUX_MANIFESTS=$TESTBED_CACHE/flux/manifests-$FLUX_VERSION
HELM_CLI=$TESTBED_BIN/helm-$HELM_VERSION

# controller_setting NAME SETTING: versions.env's setting for a controller (source-controller VERSION
# -> $SOURCE_CONTROLLER_VERSION).
controller_setting() {
  local var
  var=$(tr 'a-z-' 'A-Z_' <<<"$1")_$2
  echo "${!var}"
}
controller_version() { controller_setting "$1" VERSION; }
controller_binary() { echo "$TESTBED_BIN/$1-$(controller_version "$1")"; }
controller_image() { flux_images | grep -E "/$1:[^/]*$"; }

# The controllers' go.mod files replace their ./api module and go-digest, so `go install` refuses
# them: build in a wrapper module (lib.sh), with the pins of versions.env. Static, like upstream's
# images (CGO off).
build_controller() {
  local name=$1 version module dir out pin pins=()
  version=$(controller_version "$name")
  module=github.com/fluxcd/$name
  dir=$SRC/$name-$version
  for pin in $(controller_setting "$name" PINS); do pins+=(--pin "$pin"); done
  wrapper_module "$dir" "$module" "$version" "$version" "${pins[@]}" "$module"
  out=$(mktemp -d "$SRC/out.XXXX")
  wrapper_build "$dir" "$out" -ldflags "-s -w" -- "$module"
  mv "$out/$name" "$(controller_binary "$name")" && rmdir "$out"
}

# Upstream's alpine images add ca-certificates for the same reason as lib.sh's scratch image (HTTPS to
# Git hosts and registries), and run as 65534 too.
build_controller_image() {
  scratch_image "$(controller_image "$1")" "$(controller_binary "$1")" "$1"
}

# localize_base DIR NAME VERSION: step 2 of the header: the base renders from the controller's Go module
# instead of its release assets.
localize_base() {
  local dir=$1 name=$2 version=$3 release config
  release=https://github.com/fluxcd/$name/releases/download/$version
  grep -qF "$release/$name.deployment.yaml" "$dir/kustomization.yaml" ||
    die "flux2 $FLUX_VERSION's base for $name does not use $name $version (versions.env): $(grep -o 'https://[^ ]*deployment.yaml' "$dir/kustomization.yaml")"
  config=$(module_dir "github.com/fluxcd/$name" "$version")/config
  kustomize_build "$config/crd" >"$dir/$name.crds.yaml"
  kustomize_build "$config/manager" >"$dir/$name.deployment.yaml"
  sed -i "s#$release/##" "$dir/kustomization.yaml"
  if grep -q '://' "$dir/kustomization.yaml"; then die "flux2's base for $name still has a remote resource"; fi
}

render_manifests() {
  local work name
  work=$(mktemp -d "$SRC/flux-manifests.XXXX")
  cp -r "$(module_dir "$FLUX_MODULE" "$FLUX_VERSION")/manifests" "$work/in"
  chmod -R u+w "$work/in"
  mkdir "$work/out"
  for name in "${FLUX_CONTROLLERS[@]}"; do
    localize_base "$work/in/bases/$name" "$name" "$(controller_version "$name")"
    kustomize_build "$work/in/bases/$name" >"$work/out/$name.yaml"
  done
  kustomize_build "$work/in/rbac" >"$work/out/rbac.yaml"
  kustomize_build "$work/in/policies" >"$work/out/policies.yaml"
  mkdir -p "$(dirname "$FLUX_MANIFESTS")"
  mv "$work/out" "$FLUX_MANIFESTS" && rm -rf "$work"
}

# Built as its Makefile does (`-X main.VERSION`, without the v), in a writable copy of the module
# (the module cache is read-only) holding the rendered manifests. flux2's own replace directive
# applies there, since it is the main module.
build_flux_cli() {
  local dir=$SRC/flux2-$FLUX_VERSION
  rm -rf "$dir"
  cp -r "$(module_dir "$FLUX_MODULE" "$FLUX_VERSION")" "$dir"
  chmod -R u+w "$dir"
  rm -rf "$dir/cmd/flux/manifests"
  cp -r "$FLUX_MANIFESTS" "$dir/cmd/flux/manifests"
  (cd "$dir" && nice go build -trimpath -ldflags "-s -w -X main.VERSION=${FLUX_VERSION#v}" -o "$FLUX_CLI.tmp" ./cmd/flux)
  mv "$FLUX_CLI.tmp" "$FLUX_CLI"
  rm -rf "$dir"
}

# helm has no replace directives: `go install` works. Version ldflags as helm's Makefile sets them,
# including the Kubernetes version it assumes (its client-go minor, major + 1).
helm_ldflags() {
  local module=$1 client_go major minor
  client_go=$(go_mod_requirement "$module" "$HELM_VERSION" k8s.io/client-go)
  client_go=${client_go#v}
  major=$((${client_go%%.*} + 1))
  minor=$(cut -d. -f2 <<<"$client_go")
  echo "-s -w -X $module/internal/version.version=$HELM_VERSION -X $module/internal/version.gitTreeState=clean" \
    "-X $module/pkg/lint/rules.k8sVersionMajor=$major -X $module/pkg/lint/rules.k8sVersionMinor=$minor" \
    "-X $module/pkg/chartutil.k8sVersionMajor=$major -X $module/pkg/chartutil.k8sVersionMinor=$minor"
}

build_helm() {
  local module=helm.sh/helm/${HELM_VERSION%%.*} out
  out=$(mktemp -d "$SRC/out.XXXX")
  go_install "$out" "$module/cmd/helm@$HELM_VERSION" -ldflags "$(helm_ldflags "$module")"
  mv "$out/helm" "$HELM_CLI" && rmdir "$out"
}

# Cheap, so run every time: the CLIs report their versions, and the embedded manifests render offline
# and name exactly the images built here.
check_clis() {
  local components images
  "$FLUX_CLI" version --client | grep -qx "flux: $FLUX_VERSION" || die "$FLUX_CLI reports $("$FLUX_CLI" version --client)"
  "$HELM_CLI" version --short | grep -q "^$HELM_VERSION" || die "$HELM_CLI reports $("$HELM_CLI" version --short)"
  components=$(IFS=,; echo "${FLUX_CONTROLLERS[*]}")
  images=$("$FLUX_CLI" install --export --components="$components" | awk '$1 == "image:" {print $2}' | sort)
  [[ $images == "$(flux_images | sort)" ]] || die "flux install --export names images [$images], not the ones built here [$(flux_images)]"
}

main() {
  local name
  for name in "${FLUX_CONTROLLERS[@]}"; do
    step "$name $(controller_version "$name")" "$(controller_binary "$name")" build_controller "$name"
    step_image "$name image" "$(controller_image "$name")" build_controller_image "$name"
  done
  step "flux manifests $FLUX_VERSION" "$FLUX_MANIFESTS" render_manifests
  step "flux $FLUX_VERSION" "$FLUX_CLI" build_flux_cli
  step "helm $HELM_VERSION" "$HELM_CLI" build_helm
  check_clis
}

main "$@"
