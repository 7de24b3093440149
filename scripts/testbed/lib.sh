# Shared helpers for the test bed scripts. Sourced, never executed.
# Everything built lives in $TESTBED_CACHE (outside the repository) so a fresh clone re-uses it.
set -euo pipefail

TESTBED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$TESTBED_DIR/../.." && pwd)
# shellcheck source=versions.env
source "$TESTBED_DIR/versions.env"

TESTBED_CACHE=${TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kind-cluster-testbed}
TESTBED_BIN=$TESTBED_CACHE/bin
mkdir -p "$TESTBED_BIN"

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

# A short hash of files, so that images built from them are rebuilt when they change.
content_hash() { cat "$@" | sha256sum | cut -c1-10; }
