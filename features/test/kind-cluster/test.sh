#!/bin/bash
# The default options: the tools are installed and the hooks brought a cluster named kind to Ready.
set -e
source dev-container-features-test-lib

check "kind, kubectl and docker are installed" bash -c "kind version && kubectl version --client && docker version"
check "the node is Ready" bash -c "kubectl get nodes --no-headers | grep -E '^kind-control-plane +Ready '"
check "doctor finds no failure" kind-cluster doctor

reportResults
