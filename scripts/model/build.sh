#!/usr/bin/env bash
# npm run model:build [-- --quick] [-- PHASE...]   (PHASE: corpus train export reference card llama bench
#   lora lora-check lora-export; lora trains the tinygpt-chat and tinygpt-jargon adapters, ~10 min, --adapter NAME for one;
#   lora-export writes models/tinygpt/onnx/model_lora.onnx, LoRA weights as inputs; decode-export writes
#   models/tinygpt/onnx/model_decode.onnx and model_lora_decode.onnx, decode steps over an in-place cache;
#   quantize writes models/tinygpt-int8 and, when built, models/bench-26m-int8, then measures their metrics)
# Installs the Debian packages the pipeline needs when missing, runs it on Debian's PyTorch, then
# checks every model it wrote against its PyTorch reference vectors with onnxruntime-node.
set -euo pipefail
cd "$(dirname "$0")/../.."

PACKAGES=(python3-torch python3-onnx python3-numpy libopenblas0-pthread bible-kjv jargon-text)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "model:build needs the Debian packages: ${missing[*]}" >&2
    echo "install them as root: apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "model:build: installing Debian packages (about 850 MB, one minute): ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's PyTorch is only importable from the system interpreter (python3 may be a pyenv shim).
# One torch thread and two OpenBLAS threads: other settings were up to 40x slower here.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-2}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
/usr/bin/python3 scripts/model/build.py "$@"

out=models
for a in "$@"; do [ "$a" = "--quick" ] && out=build/quick/models; done
for a in "$@"; do [ "$a" = "quantize" ] && node --require tsx/cjs scripts/bench/int8-metrics.ts "$out"; done
npx tsx scripts/model/verify.ts "$out"
