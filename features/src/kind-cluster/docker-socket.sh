#!/bin/sh
# kind-cluster Feature, container-start step (the Feature's entrypoint).
# Makes the Docker host's socket, mounted at $HOST_SOCKET, usable at /var/run/docker.sock by the
# remote user: root gets a symlink; a non-root user gets a socat proxy owned by that user, so access
# does not depend on group ids that differ between hosts or on when the hook's process started.
# It never fails the container start: problems are logged and `kind-cluster up` reports them.
HOST_SOCKET=/var/run/kind-cluster/docker-host.sock
SOCKET=/var/run/docker.sock
# Run as root (as it usually is), it logs in a folder only root can write, so no other user can plant
# a symlink there or swap the file between our check and our write (as anyone could in /tmp).
LOG_DIR=/var/log/kind-cluster
LOG=$LOG_DIR/docker-socket.log
# The remote user, written in by install.sh (empty: this copy was not installed by it).
REMOTE_USER=''

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else return 1; fi
}

# root_only DIR: DIR is a real folder (not a symlink), owned by root, that no one else may write to.
root_only() {
  [ -d "$1" ] && [ ! -L "$1" ] && [ "$(stat -c %u "$1")" = 0 ] && [ $((0$(stat -c %a "$1") & 022)) -eq 0 ]
}

# log_safe: the log's folder (made if missing) is root's alone, and the log is a plain file or absent.
log_safe() {
  mkdir -p -m 0755 "$LOG_DIR" 2>/dev/null
  root_only "${LOG_DIR%/*}" && root_only "$LOG_DIR" && [ ! -L "$LOG" ] && { [ ! -e "$LOG" ] || [ -f "$LOG" ]; }
}

# open_log: file descriptor 3 becomes the log, or the container's own output (stderr) when the log
# cannot be written safely. `command` keeps a failed redirection from ending the script (and with it
# the container's start).
open_log() {
  if [ "$(id -u)" -ne 0 ]; then
    why="the entrypoint is not running as root"
  elif ! log_safe; then
    why="$LOG_DIR or the log in it is not root's alone"
  elif command exec 3>>"$LOG"; then
    return 0
  else
    why="it cannot be opened"
  fi
  echo "kind-cluster: not logging to $LOG ($why); messages follow here" >&2
  LOG="the container's output"
  command exec 3>&2 || command exec 3>/dev/null
}

# Present: anything at $SOCKET, a dangling symlink included.
socket_present() {
  [ -e "$SOCKET" ] || [ -L "$SOCKET" ]
}

# Our own proxy socket from an earlier start: a socket (not a symlink) owned by the remote user.
own_proxy_socket() {
  [ -S "$SOCKET" ] && [ ! -L "$SOCKET" ] && [ "$(stat -c %U "$SOCKET")" = "$1" ]
}

setup_socket() {
  if [ ! -S "$HOST_SOCKET" ]; then
    echo "no Docker socket mounted at $HOST_SOCKET; leaving $SOCKET alone"
    return 0
  fi
  user=$REMOTE_USER
  # Another Feature (docker-outside-of-docker) or the image may already provide the socket: keep it.
  if socket_present && ! { [ -n "$user" ] && [ "$user" != root ] && own_proxy_socket "$user"; }; then
    echo "$SOCKET already exists and is not our proxy socket; leaving it alone"
    return 0
  fi
  if [ -z "$user" ] || [ "$user" = root ]; then
    as_root ln -s "$HOST_SOCKET" "$SOCKET"
    return 0
  fi
  if ! command -v socat >/dev/null 2>&1; then
    echo "socat is missing; $user can use Docker only if it is in the socket's group"
    socket_present || as_root ln -s "$HOST_SOCKET" "$SOCKET"
    return 0
  fi
  as_root rm -f "$SOCKET"
  # -t: after one side half-closes, keep relaying the other way. `docker exec` half-closes its request
  # and then streams the output; socat's default (0.5 s) cut such streams short and kind's
  # `docker exec ... kubeadm init` then "succeeded" at once with no output.
  # No shell in between: the user name (validated by the CLI when install.sh recorded it) stays one argument.
  as_root nohup socat -t 86400 "UNIX-LISTEN:$SOCKET,fork,mode=660,user=$user,backlog=128" "UNIX-CONNECT:$HOST_SOCKET" >&3 2>&3 3>&- &
  echo "socat proxy: $SOCKET (owner $user) -> $HOST_SOCKET"
}

open_log
setup_socket >&3 2>&3 || echo "kind-cluster: Docker socket set-up failed; see $LOG" >&2
exec "$@" 3>&-
