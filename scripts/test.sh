#!/usr/bin/env bash
# The test command (`npm test`): prepares the host (Podman, registry; see setup-host.sh), then
# runs every test with node's test runner. Container tests run for real and fail loudly
# when the engine is missing; none is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-host.sh
shopt -s nullglob
exec node --import tsx --test --test-concurrency=3 test/unit/*.test.ts test/e2e/*.test.ts test/security/*.test.ts
