#!/bin/sh
# The registry image's entrypoint. Arguments are read as the upstream image reads them, so the same
# `docker run` lines work: none (the default CMD) or a config file means "serve it"; a registry
# subcommand runs that subcommand; anything else runs as a command.
set -e
case "${1:-}" in
  *.yml | *.yaml) set -- docker-registry serve "$@" ;;
  serve | garbage-collect | help | -*) set -- docker-registry "$@" ;;
esac
exec "$@"
