#!/bin/sh
# kind-cluster Feature, container-start step (the Feature's entrypoint).
# Makes the Docker host's socket, mounted at $HOST_SOCKET, usable at /var/run/docker.sock by the
# remote user: root gets a symlink; a non-root user gets a socat proxy owned by that user, so access
# does not depend on group ids that differ between hosts or on when the hook's process started.
# It never fails the container start: problems are logged and `kind-cluster up` reports them.
HOST_SOCKET=/var/run/kind-cluster/docker-host.sock
SOCKET=/var/run/docker.sock
LOG=/tmp/kind-cluster-docker-socket.log
OPTIONS=/usr/local/share/kind-cluster/options.env

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else return 1; fi
}

remote_user() {
  sed -n 's/^remoteUser=//p' "$OPTIONS" 2>/dev/null | head -n 1
}

socket_in_use() {
  # Another Feature (docker-outside-of-docker) or the image already provides a socket: keep it.
  [ -S "$SOCKET" ] || [ -L "$SOCKET" ]
}

setup_socket() {
  if [ ! -S "$HOST_SOCKET" ]; then
    echo "no Docker socket mounted at $HOST_SOCKET; leaving $SOCKET alone"
    return 0
  fi
  user="$(remote_user)"
  if [ -z "$user" ] || [ "$user" = root ]; then
    socket_in_use || as_root ln -s "$HOST_SOCKET" "$SOCKET"
    return 0
  fi
  # Our own proxy socket from an earlier start is owned by the user; anything else is not ours.
  if socket_in_use && [ ! -L "$SOCKET" ] && [ "$(stat -c %U "$SOCKET")" != "$user" ]; then
    echo "$SOCKET already exists and is not ours; leaving it alone"
    return 0
  fi
  if ! command -v socat >/dev/null 2>&1; then
    echo "socat is missing; $user can use Docker only if it is in the socket's group"
    socket_in_use || as_root ln -s "$HOST_SOCKET" "$SOCKET"
    return 0
  fi
  as_root rm -f "$SOCKET"
  # -t: after one side half-closes, keep relaying the other way. `docker exec` half-closes its request
  # and then streams the output; socat's default (0.5 s) cut such streams short and kind's
  # `docker exec ... kubeadm init` then "succeeded" at once with no output.
  # No shell in between: the user name (validated by the CLI when install.sh recorded it) stays one argument.
  as_root nohup socat -t 86400 "UNIX-LISTEN:$SOCKET,fork,mode=660,user=$user,backlog=128" "UNIX-CONNECT:$HOST_SOCKET" >>"$LOG" 2>&1 &
  echo "socat proxy: $SOCKET (owner $user) -> $HOST_SOCKET"
}

setup_socket >>"$LOG" 2>&1 || echo "kind-cluster: Docker socket set-up failed; see $LOG" >&2
exec "$@"
