#!/usr/bin/env bash
# The test command (`npm test`): prepares the host (Podman, registry, chromium; see setup-host.sh), then
# runs every test with node's test runner. Container tests run for real and fail loudly
# when the engine is missing; none is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-host.sh browser
# The CLI and server child processes run the built JavaScript: build what changed since.
npm run --silent build
shopt -s nullglob
# The longest files first, so they run beside the rest instead of after it.
first=(test/e2e/rollout.test.ts test/e2e/rollout-crash.test.ts)
rest=()
for file in test/unit/*.test.ts test/e2e/*.test.ts test/security/*.test.ts; do
  [[ " ${first[*]} " == *" $file "* ]] || rest+=("$file")
done
exec node --import tsx --test --test-reporter=./scripts/test-reporter.mjs --test-concurrency=3 "${first[@]}" "${rest[@]}"
