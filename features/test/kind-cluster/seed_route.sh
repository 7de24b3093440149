#!/bin/bash
# Scenario seed_route: the route of the design, host.docker.internal:6480 with TLS server name localhost.
set -e
source dev-container-features-test-lib

check "the node is Ready" bash -c "kubectl get nodes --no-headers | grep -E '^scenario-control-plane +Ready '"
check "the kubeconfig uses host.docker.internal" bash -c "kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}' | grep -x 'https://host.docker.internal:6480'"
check "TLS server name localhost, verification on" bash -c "kubectl config view --minify -o jsonpath='{.clusters[0].cluster.tls-server-name}{.clusters[0].cluster.insecure-skip-tls-verify}' | grep -x localhost"
check "status sees all three zones" bash -c "kind-cluster status | grep -q 'reachable, 1/1 nodes Ready'"

reportResults
