#!/usr/bin/env bash
# Integration tests run real redis-server and nats-server (libs/testing starts them on free
# ports), the deployment tests Prometheus's promtool (Debian package prometheus) and
# docker-compose (Debian's, since the docker CLI here has no compose plugin), and the Python
# client test Debian's grpcio with stubs from protoc and grpc_python_plugin, the playground's tests
# Debian's chromium (driven by playwright-core). Installs
# them from Debian when missing and we can (root with apt-get); otherwise says how and fails, so
# tests never skip silently.
set -euo pipefail

# REDIS_SERVER_BIN / NATS_SERVER_BIN / PROMTOOL_BIN / DOCKER_COMPOSE_BIN / CHROMIUM_BIN override the lookup, as in libs/testing.
# Debian installs the daemons in sbin, which a non-root PATH may not list.
find_bin() {
  # Not a binary: the Python module grpcio provides, for the system Python the example runs on.
  if [ "$1" = python3-grpcio ]; then /usr/bin/python3 -c 'import grpc' >/dev/null 2>&1; return; fi
  local override
  case "$1" in
    redis-server) override="${REDIS_SERVER_BIN:-}" ;;
    promtool) override="${PROMTOOL_BIN:-}" ;;
    docker-compose) override="${DOCKER_COMPOSE_BIN:-}" ;;
    chromium) override="${CHROMIUM_BIN:-}" ;;
    *) override="${NATS_SERVER_BIN:-}" ;;
  esac
  if [ -n "$override" ]; then [ -x "$override" ]; return; fi
  PATH="$PATH:/usr/sbin:/usr/local/sbin" command -v "$1" >/dev/null 2>&1
}

# Debian package of each binary: the others share their names.
package_of() {
  case "$1" in
    promtool) echo prometheus ;;
    protoc) echo protobuf-compiler ;;
    grpc_python_plugin) echo protobuf-compiler-grpc ;;
    *) echo "$1" ;;
  esac
}

missing=()
packages=()
for bin in redis-server nats-server promtool docker-compose protoc grpc_python_plugin python3-grpcio chromium; do
  find_bin "$bin" || { missing+=("$bin"); packages+=("$(package_of "$bin")"); }
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "tests need ${missing[*]} (not found on PATH or in /usr/sbin)." >&2
  echo "install them as root: apt-get update && apt-get install -y ${packages[*]}" >&2
  echo "(or point REDIS_SERVER_BIN / NATS_SERVER_BIN / PROMTOOL_BIN / DOCKER_COMPOSE_BIN / CHROMIUM_BIN at the binaries)" >&2
  exit 1
fi
echo "ensure-deps: installing Debian packages for the tests: ${packages[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
for bin in "${missing[@]}"; do
  find_bin "$bin" || { echo "ensure-deps: $bin still missing after installing it" >&2; exit 1; }
done
