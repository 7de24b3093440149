#!/usr/bin/env bash
#-------------------------------------------------------------------------------------------------------
# kind-cluster Feature, build step (runs as root while the dev container image is built).
# Installs the Docker CLI, kind, kubectl, flux, helm, a Node.js runtime and the kind-cluster CLI, and
# records the options for the lifecycle hooks, which never see Feature options themselves.
#-------------------------------------------------------------------------------------------------------
set -euo pipefail

# "latest" means the versions this Feature release pins with their published checksums. kind v0.30.0
# runs Kubernetes 1.34, whose kubelet still starts on cgroup v1 hosts (1.35+ refuse by default).
declare -A DEFAULT_VERSION=(
  [kind]="v0.30.0"
  [kubectl]="v1.34.1"
  [docker]="29.7.2"
  [flux]="v2.9.5"
  [helm]="v3.22.0"
)

# sha256 of the pinned downloads, as published upstream (kind, kubectl, flux and helm publish checksum
# files beside each release; Docker publishes none for its static builds, so its pins were taken from
# several independent projects that pin the same archive). A pinned version is checked against this
# table wherever it comes from, a download mirror included, so no mirror can substitute it. Other
# versions use the checksum file published beside the download, or the mirror's own.
declare -A PINNED_SHA256=(
  [kind-v0.30.0-amd64]="517ab7fc89ddeed5fa65abf71530d90648d9638ef0c4cde22c2c11f8097b8889"
  [kind-v0.30.0-arm64]="7ea2de9d2d190022ed4a8a4e3ac0636c8a455e460b9a13ccf19f15d07f4f00eb"
  [kubectl-v1.34.1-amd64]="7721f265e18709862655affba5343e85e1980639395d5754473dafaadcaa69e3"
  [kubectl-v1.34.1-arm64]="420e6110e3ba7ee5a3927b5af868d18df17aae36b720529ffa4e9e945aa95450"
  [docker-29.7.2-amd64]="803d433f226db4776e1768fd319fc6c6e4935a456acf84fcc0080818b854bc8f"
  [docker-29.7.2-arm64]="43d143448adf2c2787704e7d7704fd6d62d367a54c5edaef0a3f75509cb0938d"
  [flux-v2.9.5-amd64]="b853df82adfd7736f580692f9f734473d571606307139f8fd20c2a80dd1ff473"
  [flux-v2.9.5-arm64]="f3e159af616ec0b9bd0a405c2185cf09d06b74652c1de3c7f377e8166826651a"
  [helm-v3.22.0-amd64]="1e4ab49e429626cf6c6958d914248b78c9730803c2751b87627e171dc800e7bb"
  [helm-v3.22.0-arm64]="f14e804dfee240f55525b667488fe9adca349e63e00c9af634c0beb1421ac310"
)

# Docker Engine 29.0 and later refuse clients that speak an older API than this.
MIN_DOCKER_API=1.44

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
    *) die "unsupported architecture $(uname -m): kind, kubectl, flux, helm and Docker publish amd64 and arm64 builds only." ;;
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

# apt's lists and caches are not part of what the Feature installs: removed in this same layer, also
# when the build fails half-way, as the official Features do.
clean_up() {
  if command -v apt-get >/dev/null; then apt-get clean; fi
  rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/kind-cluster.*
}

ensure_curl() {
  command -v curl >/dev/null || check_packages curl ca-certificates
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

# version_of TOOL: the option's version, "latest" resolved to the pin; kind, kubectl, flux and helm tag
# their releases with a leading v, Docker without.
version_of() {
  local tool=$1 version
  version="${OPT[${tool}Version]}"
  [[ -z "$version" || "$version" == latest ]] && version="${DEFAULT_VERSION[$tool]}"
  if [[ "$tool" == docker ]]; then echo "${version#v}"; else echo "v${version#v}"; fi
}

DOWNLOAD_MIRROR=""
# TLS only, redirects included, except from a plain-http mirror the user allowed (the options' rules
# accept one only with allowInsecureMirror, at a loopback or private address).
CURL_PROTOCOLS="=https"
resolve_versions() {
  DOWNLOAD_MIRROR="${OPT[downloadMirror]}"
  if [[ "$DOWNLOAD_MIRROR" == http://* && "${OPT[allowInsecureMirror]}" == true ]]; then CURL_PROTOCOLS="=http,https"; fi
  KIND_VERSION="$(version_of kind)"
  KUBECTL_VERSION="$(version_of kubectl)"
  DOCKER_VERSION="$(version_of docker)"
  FLUX_VERSION="$(version_of flux)"
  HELM_VERSION="$(version_of helm)"
}

# Where each tool comes from: upstream, or this layout under downloadMirror, each file with a sibling
# <file>.sha256 holding its hex digest:
#   <mirror>/kind/<version>/kind-linux-<arch>
#   <mirror>/kubectl/<version>/kubectl-linux-<arch>
#   <mirror>/docker/<version>/docker-linux-<arch>.tgz      (Docker's static build: docker/docker inside)
#   <mirror>/flux/<version>/flux-linux-<arch>.tar.gz       (flux inside)
#   <mirror>/helm/<version>/helm-linux-<arch>.tar.gz       (linux-<arch>/helm inside)
download_url() {
  local tool=$1 version=$2 mirror="${DOWNLOAD_MIRROR%/}"
  if [[ -n "$mirror" ]]; then
    case "$tool" in
      kind | kubectl) echo "$mirror/$tool/$version/$tool-linux-$ARCH" ;;
      docker) echo "$mirror/docker/$version/docker-linux-$ARCH.tgz" ;;
      flux | helm) echo "$mirror/$tool/$version/$tool-linux-$ARCH.tar.gz" ;;
    esac
    return
  fi
  case "$tool" in
    kind) echo "https://github.com/kubernetes-sigs/kind/releases/download/$version/kind-linux-$ARCH" ;;
    kubectl) echo "https://dl.k8s.io/release/$version/bin/linux/$ARCH/kubectl" ;;
    docker) echo "https://download.docker.com/linux/static/stable/$(uname_arch)/docker-$version.tgz" ;;
    flux) echo "https://github.com/fluxcd/flux2/releases/download/$version/flux_${version#v}_linux_$ARCH.tar.gz" ;;
    helm) echo "https://get.helm.sh/helm-$version-linux-$ARCH.tar.gz" ;;
  esac
}

# Docker names its static build folders after the kernel's architecture names.
uname_arch() { if [[ "$ARCH" == amd64 ]]; then echo x86_64; else echo aarch64; fi; }

# curl_get URL [curl options...]: every download goes through here.
curl_get() { curl -fsSL --retry 3 --proto "$CURL_PROTOCOLS" --proto-redir "$CURL_PROTOCOLS" "$@"; }

# The digest a download must have: our pinned table whenever it has the version (a mirror cannot
# override it), else the mirror's checksum file, else upstream's.
expected_sha256() {
  local tool=$1 version=$2 url=$3 pinned="${PINNED_SHA256[$1-$2-$ARCH]:-}"
  if [[ -n "$pinned" ]]; then
    echo "$pinned"
  elif [[ -n "$DOWNLOAD_MIRROR" ]]; then
    curl_get "$url.sha256" | awk '{print $1; exit}'
  else
    case "$tool" in
      kind | helm) curl_get "$url.sha256sum" | awk '{print $1; exit}' ;;
      kubectl) curl_get "$url.sha256" | awk '{print $1; exit}' ;;
      flux) curl_get "${url%/*}/flux_${version#v}_checksums.txt" | awk -v f="${url##*/}" '$2 == f {print $1; exit}' ;;
      docker) die "Docker publishes no checksums for its static builds, so only the pinned Docker CLI ${DEFAULT_VERSION[docker]} (dockerVersion latest) can be verified; choose it, or serve docker/$version/ from a downloadMirror with its .sha256." ;;
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
  curl_get "$url" -o "$dest" || die "download of $tool $version failed: $url"
  actual="$(sha256sum "$dest" | awk '{print $1}')"
  if [[ "$actual" != "$expected" ]]; then
    rm -f "$dest"
    die "checksum mismatch for $tool $version from $url: expected $expected, got $actual. The download is corrupt or was tampered with; nothing was installed."
  fi
}

# install_binary TOOL VERSION: a release that is the binary itself.
install_binary() {
  local tool=$1 version=$2
  fetch_verified "$tool" "$version" "/tmp/kind-cluster.$tool"
  install -m 0755 "/tmp/kind-cluster.$tool" "/usr/local/bin/$tool"
  rm -f "/tmp/kind-cluster.$tool"
}

# install_from_archive TOOL VERSION MEMBER: a release archive holding the binary at MEMBER.
install_from_archive() {
  local tool=$1 version=$2 member=$3 tmp
  tmp="$(mktemp -d /tmp/kind-cluster.XXXX)"
  fetch_verified "$tool" "$version" "$tmp/archive"
  tar -xzf "$tmp/archive" -C "$tmp" "$member" || die "the $tool $version archive has no $member inside."
  install -m 0755 "$tmp/$member" "/usr/local/bin/$tool"
  rm -rf "$tmp"
}

# The API version a Docker CLI speaks by itself (it prints it even with no daemon to ask).
docker_client_api() { docker version --format '{{.Client.APIVersion}}' 2>/dev/null || true; }

# "1.41" < "1.44"
api_older() { [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" == "$1" && "$1" != "$2" ]]; }

# A current static Docker CLI: it negotiates down to older engines, and Docker Engine 29+ refuses clients
# older than API 1.44 (Debian bookworm's docker.io speaks 1.41). An image's own CLI is kept when it is
# current enough; an older one is left in place and ours goes to /usr/local/bin, which comes first in PATH.
install_docker_cli() {
  if [[ "${OPT[installDockerCli]}" != true ]]; then
    log "installDockerCli is false: not installing the Docker CLI"
    return
  fi
  if command -v docker >/dev/null; then
    local api
    api="$(docker_client_api)"
    if [[ -n "$api" ]] && ! api_older "$api" "$MIN_DOCKER_API"; then
      log "reusing the Docker CLI already in the image ($(command -v docker), API $api)"
      return
    fi
    log "the image's Docker CLI ($(command -v docker)) speaks API ${api:-unknown}, which Docker Engine 29+ refuses; installing Docker CLI $DOCKER_VERSION in /usr/local/bin"
  fi
  install_from_archive docker "$DOCKER_VERSION" docker/docker
}

install_helm() {
  if [[ "${OPT[installHelm]}" != true ]]; then
    log "installHelm is false: not installing helm"
    return
  fi
  install_from_archive helm "$HELM_VERSION" "linux-$ARCH/helm"
}

install_cli() {
  [[ -f "$CLI" ]] || die "dist/kind-cluster.mjs is missing from the Feature: build it with \`npm run build\` before packaging."
  rm -rf "$SHARE_DIR/dist"
  mkdir -p "$SHARE_DIR"
  cp -r "$FEATURE_DIR/dist" "$SHARE_DIR/dist"
  chmod -R a+rX "$SHARE_DIR/dist"
  cat >/usr/local/bin/kind-cluster <<WRAPPER
#!/bin/sh
exec "$NODE_BIN" "$SHARE_DIR/dist/kind-cluster.mjs" "\$@"
WRAPPER
  chmod 0755 /usr/local/bin/kind-cluster
}

# The hooks read these (they never see Feature options); KIND_CLUSTER_* variables override them at run time.
write_options() {
  "$NODE_BIN" "$CLI" options --feature-env --remote-user "$REMOTE_USER" --write >/dev/null
}

# The container-start entrypoint, with the remote user written in (write_options has just validated
# the name: a user name as useradd accepts it, so it is one plain word).
install_socket_entrypoint() {
  sed "s/^REMOTE_USER=.*/REMOTE_USER='$REMOTE_USER'/" "$FEATURE_DIR/docker-socket.sh" >"$SHARE_DIR/docker-socket.sh"
  chmod 0755 "$SHARE_DIR/docker-socket.sh"
}

# A non-root remote user reaches the host's socket through a proxy the entrypoint starts (socat).
install_socket_proxy() {
  if [[ "$REMOTE_USER" != root ]]; then check_packages socat; fi
}

main() {
  trap clean_up EXIT
  require_root
  ensure_node
  validate_options
  detect_arch
  resolve_versions
  ensure_curl
  install_docker_cli
  install_binary kind "$KIND_VERSION"
  install_binary kubectl "$KUBECTL_VERSION"
  install_from_archive flux "$FLUX_VERSION" flux
  install_helm
  install_socket_proxy
  install_cli
  write_options
  install_socket_entrypoint
  log "installed kind $KIND_VERSION, kubectl $KUBECTL_VERSION, flux $FLUX_VERSION, kind-cluster $(/usr/local/bin/kind-cluster --version | awk '{print $2}'); the cluster starts with the container."
}

# Sourced by our tests to check single functions; run by the devcontainer CLI.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
