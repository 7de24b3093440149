#!/bin/bash
# Scenario tools_only: createCluster=false installs the tools and leaves the Docker host alone.
set -e
source dev-container-features-test-lib

check "kind is installed" bash -c "kind version | grep -E '^kind v[0-9]+\.[0-9]+\.[0-9]+'"
check "kubectl is installed" bash -c "kubectl version --client -o json | grep -q gitVersion"
check "docker reaches the host" bash -c "docker version --format '{{.Server.Version}}' | grep -E '^[0-9]+\.'"
check "kind-cluster is installed" bash -c "kind-cluster --version | grep -E '^kind-cluster [0-9]+\.[0-9]+\.[0-9]+$'"
check "the options were recorded for the hooks" grep -q '^createCluster=false$' /usr/local/share/kind-cluster/options.env
check "no cluster was created" bash -c "! docker ps -a --format '{{.Names}}' | grep -qx kind-control-plane"

reportResults
