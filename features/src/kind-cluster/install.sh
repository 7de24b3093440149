#!/usr/bin/env bash
#-------------------------------------------------------------------------------------------------------
# kind-cluster Feature, build step (runs as root while the dev container image is built).
# Installs the Docker CLI, kind, kubectl, a Node.js runtime and the kind-cluster CLI, and records the
# options for the lifecycle hooks, which never see Feature options themselves.
#-------------------------------------------------------------------------------------------------------
set -euo pipefail

# "latest" means the versions this Feature release pins with their published checksums. kind v0.30.0
# runs Kubernetes 1.34, whose kubelet still starts on cgroup v1 hosts (1.35+ refuse by default).
DEFAULT_KIND_VERSION="v0.30.0"
DEFAULT_KUBECTL_VERSION="v1.34.1"

# sha256 of the pinned downloads, as published upstream beside each release binary. Other versions
# use the checksum file published beside the download; a download mirror serves its own.
declare -A PINNED_SHA256=(
  [kind-v0.30.0-amd64]="517ab7fc89ddeed5fa65abf71530d90648d9638ef0c4cde22c2c11f8097b8889"
  [kind-v0.30.0-arm64]="7ea2de9d2d190022ed4a8a4e3ac0636c8a455e460b9a13ccf19f15d07f4f00eb"
  [kubectl-v1.34.1-amd64]="7721f265e18709862655affba5343e85e1980639395d5754473dafaadcaa69e3"
  [kubectl-v1.34.1-arm64]="420e6110e3ba7ee5a3927b5af868d18df17aae36b720529ffa4e9e945aa95450"
)

SHARE_DIR=/usr/local/share/kind-cluster
FEATURE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLI="$FEATURE_DIR/dist/kind-cluster.mjs"
REMOTE_USER="${_REMOTE_USER:-root}"
MIN_NODE_MAJOR=18

log() { echo "kind-cluster: $*"; }
die() {
  echo "(!) kind-cluster: $*" >&2
  exit 1
}

require_root() {
  [[ "$(id -u)" -eq 0 ]] || die "install.sh must run as root (the dev container build runs Features as root)."
}

detect_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) ARCH=amd64 ;;
    aarch64 | arm64) ARCH=arm64 ;;
    *) die "unsupported architecture $(uname -m): kind, kubectl and Docker publish amd64 and arm64 builds only." ;;
  esac
}

APT_UPDATED=false
apt_get_update() {
  if [[ "$APT_UPDATED" == false ]]; then
    apt-get update -y -qq
    APT_UPDATED=true
  fi
}

# check_packages PKG...: installs the Debian/Ubuntu packages that are missing.
check_packages() {
  command -v apt-get >/dev/null || die "this image has no apt-get; install $* in the image, then rebuild."
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if ((${#missing[@]} > 0)); then
    apt_get_update
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

ensure_curl() {
  command -v curl >/dev/null || check_packages curl ca-certificates
}

# Every option, validated by the rules the hooks use (the bundled CLI's own code, one table for both),
# read into OPT. The CLI prints name=value pairs separated by NUL bytes: nothing is evaluated.
declare -A OPT=()
validate_options() {
  local out pair
  out="$(mktemp)"
  if ! "${NODE_BIN:-node}" "$CLI" options --feature-env >"$out"; then
    rm -f "$out"
    die "the Feature's options are not valid (see above); nothing was installed."
  fi
  while IFS= read -r -d '' pair; do OPT[${pair%%=*}]=${pair#*=}; done <"$out"
  rm -f "$out"
}

resolve_versions() {
  KIND_VERSION="${OPT[kindVersion]}"
  KUBECTL_VERSION="${OPT[kubectlVersion]}"
  DOCKER_VERSION="${OPT[dockerVersion]#v}"
  DOWNLOAD_MIRROR="${OPT[downloadMirror]}"
  [[ "$KIND_VERSION" == latest ]] && KIND_VERSION="$DEFAULT_KIND_VERSION"
  [[ "$KUBECTL_VERSION" == latest ]] && KUBECTL_VERSION="$DEFAULT_KUBECTL_VERSION"
  [[ "$KIND_VERSION" == v* ]] || KIND_VERSION="v$KIND_VERSION"
  [[ "$KUBECTL_VERSION" == v* ]] || KUBECTL_VERSION="v$KUBECTL_VERSION"
}

# Where each tool comes from: upstream, or this layout under downloadMirror, each file with a sibling
# <file>.sha256 holding its hex digest:
#   <mirror>/kind/<version>/kind-linux-<arch>
#   <mirror>/kubectl/<version>/kubectl-linux-<arch>
#   <mirror>/docker/<version>/docker-linux-<arch>.tgz   (a static Docker CLI: docker/docker inside)
download_url() {
  local tool=$1 version=$2
  if [[ -n "$DOWNLOAD_MIRROR" ]]; then
    case "$tool" in
      kind) echo "${DOWNLOAD_MIRROR%/}/kind/$version/kind-linux-$ARCH" ;;
      kubectl) echo "${DOWNLOAD_MIRROR%/}/kubectl/$version/kubectl-linux-$ARCH" ;;
      docker) echo "${DOWNLOAD_MIRROR%/}/docker/$version/docker-linux-$ARCH.tgz" ;;
    esac
    return
  fi
  case "$tool" in
    kind) echo "https://github.com/kubernetes-sigs/kind/releases/download/$version/kind-linux-$ARCH" ;;
    kubectl) echo "https://dl.k8s.io/release/$version/bin/linux/$ARCH/kubectl" ;;
  esac
}

# The digest a download must have: the mirror's checksum file, our pinned table, or upstream's file.
expected_sha256() {
  local tool=$1 version=$2 url=$3 pinned="${PINNED_SHA256[$1-$2-$ARCH]:-}"
  if [[ -n "$DOWNLOAD_MIRROR" ]]; then
    curl -fsSL --retry 3 "$url.sha256" | awk '{print $1; exit}'
  elif [[ -n "$pinned" ]]; then
    echo "$pinned"
  else
    case "$tool" in
      kind) curl -fsSL --retry 3 "$url.sha256sum" | awk '{print $1; exit}' ;;
      kubectl) curl -fsSL --retry 3 "$url.sha256" | awk '{print $1; exit}' ;;
    esac
  fi
}

# fetch_verified TOOL VERSION DEST: downloads and checks the sha256, or fails the build.
fetch_verified() {
  local tool=$1 version=$2 dest=$3 url expected actual
  url="$(download_url "$tool" "$version")"
  expected="$(expected_sha256 "$tool" "$version" "$url")" || die "could not get the sha256 of $tool $version (from ${DOWNLOAD_MIRROR:-upstream}); check the version and the network or mirror."
  [[ "$expected" =~ ^[0-9a-f]{64}$ ]] || die "no valid sha256 for $tool $version (got '${expected}'); check the version, or the mirror's $url.sha256."
  log "downloading $tool $version ($ARCH) from $url"
  curl -fsSL --retry 3 -o "$dest" "$url" || die "download of $tool $version failed: $url"
  actual="$(sha256sum "$dest" | awk '{print $1}')"
  if [[ "$actual" != "$expected" ]]; then
    rm -f "$dest"
    die "checksum mismatch for $tool $version from $url: expected $expected, got $actual. The download is corrupt or was tampered with; nothing was installed."
  fi
}

install_kind() {
  fetch_verified kind "$KIND_VERSION" /tmp/kind-cluster.kind
  install -m 0755 /tmp/kind-cluster.kind /usr/local/bin/kind
  rm -f /tmp/kind-cluster.kind
}

install_kubectl() {
  fetch_verified kubectl "$KUBECTL_VERSION" /tmp/kind-cluster.kubectl
  install -m 0755 /tmp/kind-cluster.kubectl /usr/local/bin/kubectl
  rm -f /tmp/kind-cluster.kubectl
}

install_docker_cli() {
  if [[ "${OPT[installDockerCli]}" != true ]]; then
    log "installDockerCli is false: not installing the Docker CLI"
    return
  fi
  if command -v docker >/dev/null; then
    log "reusing the Docker CLI already in the image ($(command -v docker))"
    return
  fi
  if [[ -z "$DOWNLOAD_MIRROR" ]]; then
    install_docker_cli_package
    return
  fi
  [[ -n "$DOCKER_VERSION" ]] || die "with downloadMirror, set dockerVersion to the Docker CLI version the mirror serves (docker/<version>/...)."
  local tmp
  tmp="$(mktemp -d)"
  fetch_verified docker "$DOCKER_VERSION" "$tmp/docker.tgz"
  tar -xzf "$tmp/docker.tgz" -C "$tmp" docker/docker || die "the Docker CLI archive has no docker/docker inside."
  install -m 0755 "$tmp/docker/docker" /usr/local/bin/docker
  rm -rf "$tmp"
}

# Docker publishes no checksums for its static CLI builds, so without a mirror the CLI comes from the
# distribution's signed package repository: docker-cli where the distribution splits it out, else docker.io.
install_docker_cli_package() {
  command -v apt-get >/dev/null || die "no Docker CLI in the image and no apt-get to install one: add a Docker CLI to the image, or set downloadMirror."
  apt_get_update
  local package=docker.io
  if apt-cache show docker-cli >/dev/null 2>&1; then package=docker-cli; fi
  log "installing the Docker CLI from the distribution ($package)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
}

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
  if command -v node >/dev/null && (($(node_major) >= MIN_NODE_MAJOR)); then
    log "reusing Node.js $(node --version) for the hooks"
  else
    log "installing Node.js from the distribution for the hooks"
    check_packages nodejs
    (($(node_major) >= MIN_NODE_MAJOR)) || die "the distribution's Node.js is $(node --version 2>/dev/null || echo missing); the hooks need >= $MIN_NODE_MAJOR. Add a Node.js Feature before this one."
  fi
  NODE_BIN="$(command -v node)"
}

install_cli() {
  [[ -f "$FEATURE_DIR/dist/kind-cluster.mjs" ]] || die "dist/kind-cluster.mjs is missing from the Feature: build it with \`npm run build\` before packaging."
  rm -rf "$SHARE_DIR/dist"
  mkdir -p "$SHARE_DIR"
  cp -r "$FEATURE_DIR/dist" "$SHARE_DIR/dist"
  chmod -R a+rX "$SHARE_DIR/dist"
  install -m 0755 "$FEATURE_DIR/docker-socket.sh" "$SHARE_DIR/docker-socket.sh"
  cat >/usr/local/bin/kind-cluster <<WRAPPER
#!/bin/sh
exec "$NODE_BIN" "$SHARE_DIR/dist/kind-cluster.mjs" "\$@"
WRAPPER
  chmod 0755 /usr/local/bin/kind-cluster
}

# The hooks read these (they never see Feature options); KIND_CLUSTER_* variables override them at run time.
write_options() {
  "$NODE_BIN" "$CLI" options --feature-env --remote-user "$REMOTE_USER" --write "$SHARE_DIR/options.env" >/dev/null
}

# A non-root remote user reaches the host's socket through a proxy the entrypoint starts (socat).
install_socket_proxy() {
  if [[ "$REMOTE_USER" != root ]]; then check_packages socat; fi
}

clean_up() {
  rm -rf /var/lib/apt/lists/*
}

main() {
  require_root
  ensure_node
  validate_options
  detect_arch
  resolve_versions
  ensure_curl
  install_docker_cli
  install_kind
  install_kubectl
  install_socket_proxy
  install_cli
  write_options
  clean_up
  log "installed kind $KIND_VERSION, kubectl $KUBECTL_VERSION, kind-cluster $(/usr/local/bin/kind-cluster --version | awk '{print $2}'); the cluster starts with the container."
}

# Sourced by our tests to check single functions; run by the devcontainer CLI.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
