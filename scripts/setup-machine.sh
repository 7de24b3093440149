#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine for this project: the Debian packages the tests and the test bed
# use, a running Docker Engine, and the npm packages. Idempotent: a second run takes a few seconds.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCKER_ENGINE_TOOL=${DOCKER_ENGINE_TOOL:-$REPO_DIR/../shared/tools/docker-engine}
APT_PACKAGES=(busybox-static openssl debootstrap docker-registry libseccomp-dev jq gcc libc6-dev pkg-config age)

log() { printf '[setup] %s\n' "$*" >&2; }

install_debian_packages() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  ((${#missing[@]} == 0)) && return 0
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

start_docker_engine() {
  if timeout 10 docker info >/dev/null 2>&1; then return 0; fi
  [[ -x $DOCKER_ENGINE_TOOL ]] || { log "no Docker Engine answers and $DOCKER_ENGINE_TOOL is missing: start Docker, then run again"; exit 1; }
  "$DOCKER_ENGINE_TOOL" start
}

# `npm install --no-save` installs exactly the locked versions and never rewrites the lock. (`npm ci`
# refuses this lock: the registry reachable here lacks rollup's builds for other platforms, so the lock
# cannot list them, and npm ci counts them as missing.)
install_npm_packages() {
  if [[ -d $REPO_DIR/node_modules && $REPO_DIR/node_modules/.package-lock.json -nt $REPO_DIR/package-lock.json ]]; then return 0; fi
  log "installing npm packages (locked versions)"
  (cd "$REPO_DIR" && npm install --no-save --no-fund --no-audit --loglevel=error)
}

install_debian_packages
start_docker_engine
install_npm_packages
log "machine ready: $(docker version --format 'Docker Engine {{.Server.Version}}'), node $(node --version)"
