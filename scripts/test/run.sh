#!/usr/bin/env bash
# `npm test`: type checks, lint (eslint.config.js, knip.json), then every jest suite. Needs no
# network and no Python: the models under models/ are committed, and tests run them with
# onnxruntime-node.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/test/ensure-deps.sh  # redis-server, nats-server, promtool (prometheus), docker-compose, protoc, grpc_python_plugin, python3-grpcio, chromium
echo "== typecheck"
# The project, then the playground's browser code (DOM types, bundler resolution).
npm run --silent typecheck
echo "== lint"
npm run --silent lint
echo "== jest"
mkdir -p build
status=0
npx jest --json --outputFile=build/jest-results.json "$@" || status=$?
# One plain closing line ("N passed, N failed") that any CI reader understands.
node -e '
  const r = require(process.argv[1]);
  if (r.numTotalTests === 0) { console.error("no test ran"); process.exit(1); }
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`);
' "$PWD/build/jest-results.json" || status=1
exit $status
