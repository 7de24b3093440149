#!/usr/bin/env bash
# Test bed, part 3: a download mirror in the layout of the Feature's downloadMirror option, served by a
# container on the default bridge (so `docker build` containers reach it by its address). Plain http
# at a private address (the bridge's 172.17.0.0/16): the Feature options name allowInsecureMirror.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MIRROR=$TESTBED_CACHE/mirror
MIRROR_CONTAINER=kind-cluster-testbed-mirror
BASE_IMAGE=kind-cluster-testbed/devcontainer-base:bookworm
DOCKER_VERSION=$(docker version --format '{{.Client.Version}}')

# publish SOURCE PATH: copies SOURCE to $MIRROR/PATH with its .sha256 beside it.
publish() {
  local source=$1 path=$2
  mkdir -p "$(dirname "$MIRROR/$path")"
  cp "$source" "$MIRROR/$path.tmp" && mv "$MIRROR/$path.tmp" "$MIRROR/$path"
  (cd "$(dirname "$MIRROR/$path")" && sha256sum "$(basename "$path")" >"$(basename "$path").sha256")
}

# docker_cli_tarball PATH: Docker's static CLI tarballs hold docker/docker; this machine's client is
# such a static build.
docker_cli_tarball() {
  local path=$1 dir
  dir=$(mktemp -d)
  mkdir "$dir/docker"
  cp "$(command -v docker)" "$dir/docker/docker"
  tar -C "$dir" -czf "$dir/docker.tgz" docker
  publish "$dir/docker.tgz" "$path"
  rm -rf "$dir"
}

# cli_tarball BINARY MEMBER PATH: publishes a tar.gz holding BINARY as MEMBER, the layout of the
# upstream release tarballs: flux_<v>_linux_amd64.tar.gz holds `flux` at its root,
# helm-<v>-linux-amd64.tar.gz holds `linux-amd64/helm`.
cli_tarball() {
  local binary=$1 member=$2 path=$3 dir
  dir=$(mktemp -d)
  install -D -m 0755 "$binary" "$dir/root/$member"
  tar -C "$dir/root" --owner=0 --group=0 --numeric-owner -czf "$dir/cli.tar.gz" "${member%%/*}"
  publish "$dir/cli.tar.gz" "$path"
  rm -rf "$dir"
}

# Each tool under its mirror_version (lib.sh): the test bed's own builds, labelled so.
fill_mirror() {
  local kind kubectl docker flux helm
  kind=kind/$(mirror_version "$KIND_VERSION")/kind-linux-amd64
  kubectl=kubectl/$(mirror_version "$KUBERNETES_VERSION")/kubectl-linux-amd64
  docker=docker/$(mirror_version "$DOCKER_VERSION")/docker-linux-amd64.tgz
  flux=flux/$(mirror_version "$FLUX_VERSION")/flux-linux-amd64.tar.gz
  helm=helm/$(mirror_version "$HELM_VERSION")/helm-linux-amd64.tar.gz
  step "mirror: kind" "$MIRROR/$kind.sha256" publish "$TESTBED_BIN/kind" "$kind"
  step "mirror: kubectl" "$MIRROR/$kubectl.sha256" publish "$TESTBED_BIN/kubectl" "$kubectl"
  step "mirror: docker cli" "$MIRROR/$docker.sha256" docker_cli_tarball "$docker"
  step "mirror: flux" "$MIRROR/$flux.sha256" cli_tarball "$TESTBED_BIN/flux-$FLUX_VERSION" flux "$flux"
  step "mirror: helm" "$MIRROR/$helm.sha256" cli_tarball "$TESTBED_BIN/helm-$HELM_VERSION" linux-amd64/helm "$helm"
}

serving_dir() { docker inspect -f '{{range .Mounts}}{{.Source}}{{end}}' "$MIRROR_CONTAINER" 2>/dev/null || true; }

start_server() {
  if [[ "$(docker inspect -f '{{.State.Running}}' "$MIRROR_CONTAINER" 2>/dev/null)" == true && "$(serving_dir)" == "$MIRROR" ]]; then
    return 0
  fi
  docker rm -f "$MIRROR_CONTAINER" >/dev/null 2>&1 || true
  docker run -d --name "$MIRROR_CONTAINER" --restart unless-stopped -v "$MIRROR:/srv:ro" \
    "$BASE_IMAGE" busybox httpd -f -p 8080 -h /srv >/dev/null
}

mirror_url() {
  local ip
  ip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' "$MIRROR_CONTAINER")
  [[ -n $ip ]] || die "the mirror container has no address on the default bridge"
  echo "http://$ip:8080"
}

check_server() {
  local url=$1 i
  for i in $(seq 1 20); do
    curl -fsS "$url/kind/$(mirror_version "$KIND_VERSION")/kind-linux-amd64.sha256" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "the mirror at $url does not answer"
}

main() {
  fill_mirror
  start_server
  local url
  url=$(mirror_url)
  check_server "$url"
  log "$(printf '%-28s %s' "mirror serving" "$url")"
  printf '%s %s\n' "$url" "$DOCKER_VERSION"
}

main "$@"
