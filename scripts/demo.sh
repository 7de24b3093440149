#!/usr/bin/env bash
# The main job on a fresh machine: set it up, build the Feature, prepare the offline test bed, then
# bring up a dev container with the Feature and a live cluster, and show `kubectl get nodes` from it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-machine.sh
npm run --silent build
npm run --silent testbed
npx tsx scripts/demo.ts
