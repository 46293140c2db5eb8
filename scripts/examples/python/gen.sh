#!/usr/bin/env bash
# Python stubs for the gateway's gRPC API with Debian's tools (protobuf-compiler 3.21 and
# protobuf-compiler-grpc's grpc_python_plugin; python3-grpc-tools' bundled protoc is too old for
# proto3 `optional`). The health proto is generated from a copy under another directory name:
# its own path, grpc/health/v1, would make a `grpc` package that shadows grpcio's.
#   bash scripts/examples/python/gen.sh OUT
set -euo pipefail
cd "$(dirname "$0")/../../.."
out="${1:?usage: gen.sh OUT}"
mkdir -p "$out/src/grpc_health_v1"
cp proto/grpc/health/v1/health.proto "$out/src/grpc_health_v1/health.proto"
plugin="--plugin=protoc-gen-grpc_python=$(command -v grpc_python_plugin)"
protoc -I proto --python_out="$out" --grpc_python_out="$out" "$plugin" \
  tokenmesh/common/v1/common.proto tokenmesh/inference/v1/inference.proto
protoc -I "$out/src" --python_out="$out" --grpc_python_out="$out" "$plugin" grpc_health_v1/health.proto
