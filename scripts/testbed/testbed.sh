#!/usr/bin/env bash
# `npm run testbed`: prepares everything the end-to-end tests run on, offline, re-using whatever is
# already built, and writes .testbed/testbed.json for the tests.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

START=$SECONDS
mkdir -p "$TESTBED_CACHE/logs" "$REPO_DIR/.testbed"

bash "$REPO_DIR/scripts/setup-machine.sh"
bash "$TESTBED_DIR/binaries.sh"
bash "$TESTBED_DIR/flux.sh"
APPS=$(bash "$TESTBED_DIR/apps.sh" | tail -n 1)
NODE_IMAGE=$(bash "$TESTBED_DIR/images.sh" | tail -n 1)
REGISTRY_IMAGE=$(bash "$TESTBED_DIR/registry.sh" | tail -n 1)
read -r MIRROR_URL DOCKER_VERSION < <(bash "$TESTBED_DIR/mirror.sh" | tail -n 1)
# A daemon that refuses API < 1.44 like Docker Engine 29+ (tests start it on demand).
bash "$TESTBED_DIR/dockerd-min-api.sh" build

jq -n \
  --arg kindVersion "$KIND_VERSION" --arg kubernetesVersion "$KUBERNETES_VERSION" \
  --arg kind "$TESTBED_BIN/kind" --arg kubectl "$TESTBED_BIN/kubectl" \
  --arg nodeImage "$NODE_IMAGE" --arg baseImage kind-cluster-testbed/devcontainer-base:bookworm \
  --arg mirrorUrl "$MIRROR_URL" --arg mirrorDir "$TESTBED_CACHE/mirror" --arg dockerVersion "$DOCKER_VERSION" \
  --arg fluxVersion "$FLUX_VERSION" --arg helmVersion "$HELM_VERSION" --arg registryImage "$REGISTRY_IMAGE" \
  --argjson fluxImages "$(flux_images | jq -R . | jq -s .)" --argjson apps "$APPS" \
  --arg fluxComponents "$(flux_images | sed 's#.*/##; s#:.*##' | paste -sd,)" \
  --arg mirrorKind "$(mirror_version "$KIND_VERSION")" --arg mirrorKubectl "$(mirror_version "$KUBERNETES_VERSION")" \
  --arg mirrorDocker "$(mirror_version "$DOCKER_VERSION")" --arg mirrorFlux "$(mirror_version "$FLUX_VERSION")" \
  --arg mirrorHelm "$(mirror_version "$HELM_VERSION")" \
  '{kindVersion: $kindVersion, kubernetesVersion: $kubernetesVersion, kind: $kind, kubectl: $kubectl,
    nodeImage: $nodeImage, baseImage: $baseImage, mirrorUrl: $mirrorUrl, mirrorDir: $mirrorDir,
    dockerVersion: $dockerVersion, fluxVersion: $fluxVersion, helmVersion: $helmVersion,
    registryImage: $registryImage, fluxImages: $fluxImages,
    featureOptions: {kindVersion: $mirrorKind, kubectlVersion: $mirrorKubectl, nodeImage: $nodeImage,
      downloadMirror: $mirrorUrl, allowInsecureMirror: true, dockerVersion: $mirrorDocker,
      fluxVersion: $mirrorFlux, helmVersion: $mirrorHelm, registryImage: $registryImage,
      fluxComponents: $fluxComponents}} + $apps' >"$REPO_DIR/.testbed/testbed.json.tmp"
mv "$REPO_DIR/.testbed/testbed.json.tmp" "$REPO_DIR/.testbed/testbed.json"
log "test bed ready in $((SECONDS - START))s: .testbed/testbed.json ($(du -sh "$TESTBED_CACHE" | cut -f1) in $TESTBED_CACHE)"
