#!/usr/bin/env bash
# A real Docker daemon that refuses old clients, for tests of how our tools explain that refusal.
#
#   dockerd-min-api.sh build       build (once) the image kind-cluster-testbed/dockerd-min-api:<suite>
#   dockerd-min-api.sh start DIR   run it; its daemon listens at DIR/docker.sock; prints that path
#   dockerd-min-api.sh stop        remove the container (and its data volume)
#   dockerd-min-api.sh status      exit 0 when the daemon answers
#
# Why: Docker Engine 29+ refuses clients below API 1.44 ("client version 1.41 is too old. Minimum
# supported API version is 1.44"). The host's engine here is Debian's 20.10, which refuses nothing.
# A newer Debian docker.io (sid: 28.x, trixie: 26.x) honours DOCKER_MIN_API_VERSION, so we run that
# one with DOCKER_MIN_API_VERSION=1.44, nested in a privileged container of the host's engine, on
# its own Unix socket in a host directory. Nothing of the host's dockerd is touched.
# The nested daemon also runs containers, --privileged ones too: its runc (1.3) keeps only the
# capabilities this kernel grants, so it needs no copy of the host's runc-capfix. Its own bridge
# takes the first free private range it sees (172.18.0.0/16 here), inside its own namespace.
#
# Settings (environment):
#   DOCKERD_MIN_API_SUITE    Debian suite the image is built from (default sid)
#   DOCKERD_MIN_API_VERSION  the minimum API version the daemon accepts (default 1.44)
#   DOCKERD_MIN_API_NAME     container name (default kind-cluster-testbed-dockerd-min-api)
#   DOCKERD_MIN_API_GROUP    group (name in the image, or a number) owning the socket, mode 0660
#                            (default 0: root; the image's "docker" group has no meaning on the host)
#   DOCKERD_MIN_API_TIMEOUT  seconds start waits for the daemon to answer (default 60)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SUITE=${DOCKERD_MIN_API_SUITE:-sid}
MIN_API=${DOCKERD_MIN_API_VERSION:-1.44}
NAME=${DOCKERD_MIN_API_NAME:-kind-cluster-testbed-dockerd-min-api}
IMAGE=kind-cluster-testbed/dockerd-min-api:$SUITE
ROOTFS=$TESTBED_CACHE/rootfs
LOGS=$TESTBED_CACHE/logs
# docker.io pulls containerd, runc, tini and iptables; the rest helps when looking inside.
PACKAGES=docker.io,ca-certificates,procps,iproute2,curl
# The image is rebuilt when this script (which holds the entrypoint) changes.
SCRIPT_HASH=$(content_hash "${BASH_SOURCE[0]}")
HASH_LABEL=kind-cluster-testbed.dockerd-min-api.hash
SOCKET_LABEL=kind-cluster-testbed.dockerd-min-api.socket
MIN_API_LABEL=kind-cluster-testbed.dockerd-min-api.min-api-version
SOCKET_GROUP=${DOCKERD_MIN_API_GROUP:-0}
READY_TIMEOUT=${DOCKERD_MIN_API_TIMEOUT:-60}

mkdir -p "$ROOTFS" "$LOGS"

# The root filesystem: debootstrap minbase of $SUITE with docker.io, cached as a tarball.
rootfs_tar() {
  debootstrap_tar "$SUITE" "$PACKAGES" "$ROOTFS/$1.tar"
  tar -tf "$ROOTFS/$1.tar" ./usr/sbin/dockerd >/dev/null 2>&1 || { rm -f "$ROOTFS/$1.tar"; die "no dockerd in the $SUITE rootfs; see $LOGS/debootstrap-$1.log"; }
}

# What runs in the container: dockerd on the socket given as $1, after clearing a stale socket
# left by a killed daemon. Further arguments go to dockerd.
write_entrypoint() {
  cat >"$1" <<'ENTRYPOINT'
#!/bin/sh
set -eu
sock=$1; shift
rm -f "$sock"
echo "dockerd-min-api: DOCKER_MIN_API_VERSION=${DOCKER_MIN_API_VERSION:-unset}, socket $sock" >&2
exec dockerd --host "unix://$sock" "$@"
ENTRYPOINT
  chmod 0755 "$1"
}

# The image: the rootfs tarball ADDed (the classic builder unpacks it) plus the entrypoint.
# /var/lib/docker is a volume: overlay2 cannot use the container's own overlay as its upper layer.
build_daemon_image() {
  local context log=$LOGS/build-dockerd-min-api-$SUITE.log
  context=$(mktemp -d)
  ln "$ROOTFS/dockerd-min-api-$SUITE.tar" "$context/rootfs.tar" 2>/dev/null || cp "$ROOTFS/dockerd-min-api-$SUITE.tar" "$context/rootfs.tar"
  write_entrypoint "$context/dockerd-min-api-entrypoint"
  cat >"$context/Dockerfile" <<DOCKERFILE
FROM scratch
ADD rootfs.tar /
COPY dockerd-min-api-entrypoint /usr/local/bin/dockerd-min-api-entrypoint
LABEL $HASH_LABEL=$SCRIPT_HASH
VOLUME /var/lib/docker
ENTRYPOINT ["/usr/local/bin/dockerd-min-api-entrypoint"]
DOCKERFILE
  DOCKER_BUILDKIT=0 docker build -t "$IMAGE" "$context" >"$log" 2>&1 || { rm -rf "$context"; tail -n 30 "$log" >&2; die "docker build of $IMAGE failed; see $log"; }
  rm -rf "$context"
}

image_hash() { docker image inspect --format "{{index .Config.Labels \"$HASH_LABEL\"}}" "$IMAGE" 2>/dev/null || true; }

build() {
  step "rootfs dockerd-min-api-$SUITE" "$ROOTFS/dockerd-min-api-$SUITE.tar" rootfs_tar "dockerd-min-api-$SUITE"
  # An image built by an older version of this script carries another hash: build over its tag.
  # The old image is removed now, or by remove_container when a running container still uses it.
  local hash old start=$SECONDS
  hash=$(image_hash)
  if [[ -n $hash && $hash != "$SCRIPT_HASH" ]]; then
    old=$(docker image inspect --format '{{.Id}}' "$IMAGE")
    log "$(printf '%-28s stale (built by another version of this script), rebuilding...' "dockerd-min-api image")"
    build_daemon_image
    docker rmi "$old" >/dev/null 2>&1 || true
    log "$(printf '%-28s done in %ds' "dockerd-min-api image" $((SECONDS - start)))"
    return 0
  fi
  step_image "dockerd-min-api image" "$IMAGE" build_daemon_image
}

# answers SOCKET: the daemon's unversioned /_ping, which no minimum API version refuses.
answers() { [[ -S $1 ]] && curl -fsS -m 5 --unix-socket "$1" http://localhost/_ping >/dev/null 2>&1; }

container_socket() { docker inspect --format "{{index .Config.Labels \"$SOCKET_LABEL\"}}" "$NAME" 2>/dev/null || true; }

# What a running container was started with (socket, minimum API, image), to decide whether to reuse it.
container_key() { docker inspect --format "{{index .Config.Labels \"$SOCKET_LABEL\"}} {{index .Config.Labels \"$MIN_API_LABEL\"}} {{.Image}}" "$NAME" 2>/dev/null || true; }
wanted_key() { echo "$1 $MIN_API $(docker image inspect --format '{{.Id}}' "$IMAGE")"; }

remove_container() {
  local sock image
  sock=$(container_socket)
  image=$(docker inspect --format '{{.Image}}' "$NAME" 2>/dev/null || true)
  # A clean stop lets dockerd remove its socket and stop its own containers; then the volume goes.
  docker stop -t 20 "$NAME" >/dev/null 2>&1 || true
  docker rm -f -v "$NAME" >/dev/null 2>&1 || true
  # Only a socket file, never anything else, in case the daemon died before cleaning up.
  if [[ -n $sock && -S $sock ]]; then rm -f "$sock"; fi
  # The container's image, when a rebuild has since replaced it (it is untagged then; only ours).
  if [[ -n $image && $image != "$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null)" ]]; then
    docker rmi "$image" >/dev/null 2>&1 || true
  fi
}

start() {
  local dir=${1:-} sock start
  [[ -n $dir ]] || die "usage: $0 start DIR"
  command -v curl >/dev/null || die "curl is missing (used to wait for the daemon)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  sock=$dir/docker.sock
  build
  # Same socket, same minimum, same image, and answering: nothing to do.
  if [[ $(container_key) == "$(wanted_key "$sock")" ]] && answers "$sock"; then
    log "dockerd-min-api already answering at $sock"
    echo "$sock"
    return 0
  fi
  remove_container
  start=$SECONDS
  log "starting $NAME (DOCKER_MIN_API_VERSION=$MIN_API) at $sock"
  # Privileged: dockerd mounts, creates cgroups and network interfaces. DIR is mounted at the same
  # path so the socket's path is the same inside and out (and for containers that mount it).
  docker run -d --name "$NAME" --privileged \
    --label "$SOCKET_LABEL=$sock" --label "$MIN_API_LABEL=$MIN_API" \
    -e "DOCKER_MIN_API_VERSION=$MIN_API" \
    -v "$dir:$dir" \
    "$IMAGE" "$sock" --group "$SOCKET_GROUP" >/dev/null
  wait_ready "$sock"
  log "dockerd-min-api answering in $((SECONDS - start))s: $(curl -fsS --unix-socket "$sock" http://localhost/version | jq -c '{Version, ApiVersion, MinAPIVersion}' 2>/dev/null || echo '?')"
  echo "$sock"
}

wait_ready() {
  local sock=$1 i
  for ((i = 0; i < READY_TIMEOUT; i++)); do
    answers "$sock" && return 0
    if [[ $(docker inspect --format '{{.State.Running}}' "$NAME" 2>/dev/null) != true ]]; then
      docker logs --tail 30 "$NAME" >&2 || true
      die "$NAME exited before its daemon answered"
    fi
    sleep 1
  done
  docker logs --tail 30 "$NAME" >&2 || true
  die "$NAME did not answer at $sock within ${READY_TIMEOUT}s"
}

stop() {
  remove_container
  log "$NAME removed"
}

status() {
  local sock
  sock=$(container_socket)
  [[ -n $sock ]] && answers "$sock"
}

case ${1:-} in
  build) build ;;
  start) start "${2:-}" ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 build | start DIR | stop | status" ;;
esac
