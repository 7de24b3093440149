#!/usr/bin/env bash
# Test bed, part 1c: what the end-to-end tests deploy into clusters or use beside Flux, built from Go
# modules: the sops CLI (encrypted secrets, with Debian's age from setup-machine.sh), Traefik (ingress
# and Gateway API controller) as a binary and an image, and the Gateway API CRDs (standard channel).
# Each step is skipped when its output exists; outputs carry their version in their name. The last line
# printed is a JSON object naming the outputs, for testbed.json.
#
# Traefik is built in its module's folder in the module cache, as the main module: its go.mod replaces
# two dependencies by forks and excludes a tencentcloud version, which `go install` refuses and a
# wrapper module would have to restate; as the main module, its own directives and go.sum apply as
# upstream's do (nothing is written there: the build finds every checksum in that go.sum). Its web UI
# (`//go:embed static` in webui/) is not built: the module holds a placeholder file there, enough to
# compile; the tests need no dashboard.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC=$TESTBED_CACHE/src
mkdir -p "$SRC"
export CGO_ENABLED=0

SOPS_CLI=$TESTBED_BIN/sops-$SOPS_VERSION
TRAEFIK_MODULE=github.com/traefik/traefik/v3
TRAEFIK_BINARY=$TESTBED_BIN/traefik-$TRAEFIK_VERSION
TRAEFIK_IMAGE=kind-cluster-testbed/traefik:$TRAEFIK_VERSION
GATEWAY_API_MODULE=sigs.k8s.io/gateway-api
GATEWAY_API_CRDS=$TESTBED_CACHE/gateway-api/standard-$GATEWAY_API_VERSION.yaml
# The standard channel's kinds that the tests rely on (v1.4 also ships BackendTLSPolicy there).
GATEWAY_API_KINDS=(GatewayClass Gateway HTTPRoute GRPCRoute ReferenceGrant)

# sops has no replace directives: `go install` works. Its version is a constant in its source.
build_sops() {
  local out
  out=$(mktemp -d "$SRC/out.XXXX")
  go_install "$out" "github.com/getsops/sops/v3/cmd/sops@$SOPS_VERSION" -ldflags "-s -w"
  mv "$out/sops" "$SOPS_CLI" && rmdir "$out"
}

# Version ldflags as Traefik's Makefile sets them (its release binaries report the version without v).
build_traefik() {
  (cd "$(module_dir "$TRAEFIK_MODULE" "$TRAEFIK_VERSION")" &&
    nice go build -trimpath -ldflags "-s -w -X $TRAEFIK_MODULE/pkg/version.Version=${TRAEFIK_VERSION#v}" \
      -o "$TRAEFIK_BINARY.tmp" ./cmd/traefik)
  mv "$TRAEFIK_BINARY.tmp" "$TRAEFIK_BINARY"
}

build_traefik_image() { scratch_image "$TRAEFIK_IMAGE" "$TRAEFIK_BINARY" traefik; }

# The Gateway API module's config/crd is the standard channel's kustomization.
render_gateway_api_crds() {
  local required kind
  required=$(go_mod_requirement "$TRAEFIK_MODULE" "$TRAEFIK_VERSION" "$GATEWAY_API_MODULE")
  [[ $required == "$GATEWAY_API_VERSION" ]] ||
    die "Traefik $TRAEFIK_VERSION requires $GATEWAY_API_MODULE $required, versions-apps.env says $GATEWAY_API_VERSION: set GATEWAY_API_VERSION=$required"
  mkdir -p "$(dirname "$GATEWAY_API_CRDS")"
  kustomize_build "$(module_dir "$GATEWAY_API_MODULE" "$GATEWAY_API_VERSION")/config/crd" >"$GATEWAY_API_CRDS.tmp"
  for kind in "${GATEWAY_API_KINDS[@]}"; do
    grep -qx "    kind: $kind" "$GATEWAY_API_CRDS.tmp" || die "the Gateway API $GATEWAY_API_VERSION standard CRDs lack $kind"
  done
  mv "$GATEWAY_API_CRDS.tmp" "$GATEWAY_API_CRDS"
}

# Cheap, so run every time: the binaries report the versions asked for (sops without asking GitHub
# for its latest release).
check_versions() {
  local sops traefik
  sops=$("$SOPS_CLI" --version --disable-version-check)
  [[ $sops == "sops ${SOPS_VERSION#v}" ]] || die "$SOPS_CLI reports '$sops'"
  traefik=$("$TRAEFIK_BINARY" version)
  grep -qE "^Version: +${TRAEFIK_VERSION#v}$" <<<"$traefik" || die "$TRAEFIK_BINARY reports '$traefik'"
  command -v age-keygen >/dev/null || die "age-keygen is missing: run scripts/setup-machine.sh (Debian's age)"
}

main() {
  step "sops $SOPS_VERSION" "$SOPS_CLI" build_sops
  step "traefik $TRAEFIK_VERSION" "$TRAEFIK_BINARY" build_traefik
  step_image "traefik image" "$TRAEFIK_IMAGE" build_traefik_image
  step "gateway-api CRDs $GATEWAY_API_VERSION" "$GATEWAY_API_CRDS" render_gateway_api_crds
  check_versions
  jq -cn --arg sops "$SOPS_CLI" --arg ageKeygen "$(command -v age-keygen)" --arg traefikImage "$TRAEFIK_IMAGE" \
    --arg gatewayApiCrds "$GATEWAY_API_CRDS" --arg sopsVersion "$SOPS_VERSION" --arg traefikVersion "$TRAEFIK_VERSION" \
    --arg gatewayApiVersion "$GATEWAY_API_VERSION" \
    '{sops: $sops, sopsVersion: $sopsVersion, ageKeygen: $ageKeygen, traefikImage: $traefikImage,
      traefikVersion: $traefikVersion, gatewayApiCrds: $gatewayApiCrds, gatewayApiVersion: $gatewayApiVersion}'
}

main "$@"
