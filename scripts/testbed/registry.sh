#!/usr/bin/env bash
# Test bed, part 2b: a local OCI registry image standing in for the upstream CNCF distribution image
# (registry:2), which no registry serves here. Debian's docker-registry package is that same
# distribution registry (setup-machine.sh installs it); its binary is linked against glibc, so it runs
# on the test bed's netbase image (Debian bookworm, as this machine). Needs images.sh's netbase image.
# Prints the image's tag on its last line.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NETBASE_IMAGE=kind-cluster-testbed/netbase:bookworm
REGISTRY_FILES=$TESTBED_DIR/registry

# kind-cluster-testbed/registry:<upstream version>-<hash>: the hash covers this script, its files and
# the Debian package version, so any change builds a new image.
registry_image() {
  local package
  package=$(dpkg-query -W -f '${Version}' docker-registry) || die "Debian's docker-registry package is not installed (scripts/setup-machine.sh installs it)"
  echo "kind-cluster-testbed/registry:${package%%+*}-$(content_hash "${BASH_SOURCE[0]}" "$REGISTRY_FILES"/* <(echo "$package"))"
}

# Laid out as upstream's image: config at /etc/docker/registry/config.yml, data in the volume
# /var/lib/registry, port 5000; `registry` is also on PATH under upstream's name, for
# `docker exec ... registry garbage-collect ...`.
build_registry_image() {
  local tag=$1 context
  image_exists "$NETBASE_IMAGE" || die "$NETBASE_IMAGE is missing: run images.sh first"
  context=$(mktemp -d)
  cp /usr/bin/docker-registry "$REGISTRY_FILES/config.yml" "$REGISTRY_FILES/entrypoint.sh" "$context/"
  cat >"$context/Dockerfile" <<DOCKERFILE
FROM $NETBASE_IMAGE
COPY docker-registry /usr/bin/docker-registry
COPY config.yml /etc/docker/registry/config.yml
COPY entrypoint.sh /entrypoint.sh
RUN chmod 0755 /entrypoint.sh && ln -s docker-registry /usr/bin/registry && mkdir -p /var/lib/registry \\
 && docker-registry --version
VOLUME ["/var/lib/registry"]
EXPOSE 5000
ENTRYPOINT ["/entrypoint.sh"]
CMD ["/etc/docker/registry/config.yml"]
DOCKERFILE
  build_image "$tag.candidate" "$context"
  rm -rf "$context"
  check_registry_image "$tag.candidate"
  docker tag "$tag.candidate" "$tag"
  docker rmi "$tag.candidate" >/dev/null
}

# The image only gets its real tag once a push to it worked: run it on a loopback port Docker picks,
# push the (small) pause image through the host's engine, read it back from the catalog, clean up.
check_registry_image() {
  local image=$1 name=kind-cluster-testbed-registry-check-$$ port small pushed ok=0
  small=$(grep -E '/pause:[^/]*$' "$TESTBED_BIN/images.txt")
  docker run -d --name "$name" -p 127.0.0.1::5000 "$image" >/dev/null
  port=$(docker port "$name" 5000/tcp | head -n 1 | sed 's/.*://')
  pushed=localhost:$port/testbed-check/pause:1
  wait_for_registry "$port" &&
    docker tag "$small" "$pushed" &&
    docker push "$pushed" >"$TESTBED_CACHE/logs/registry-check.log" 2>&1 &&
    curl -fsS "http://127.0.0.1:$port/v2/_catalog" | grep -q testbed-check/pause && ok=1
  docker rmi "$pushed" >/dev/null 2>&1 || true
  docker logs "$name" >>"$TESTBED_CACHE/logs/registry-check.log" 2>&1 || true
  docker rm -f -v "$name" >/dev/null
  ((ok)) || die "pushing to $image failed; see $TESTBED_CACHE/logs/registry-check.log"
}

wait_for_registry() {
  local _
  for _ in $(seq 1 20); do
    curl -fsS "http://127.0.0.1:$1/v2/" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

# Registry images of earlier builds only take disk (docker keeps any a container still uses).
remove_stale() {
  local current=$1 image
  for image in $(docker images --format '{{.Repository}}:{{.Tag}}' | grep '^kind-cluster-testbed/registry:' | grep -vx "$current"); do
    docker rmi "$image" >/dev/null 2>&1 || true
  done
}

main() {
  local tag
  tag=$(registry_image)
  step_image "registry image" "$tag" build_registry_image "$tag"
  remove_stale "$tag"
  echo "$tag"
}

main "$@"
