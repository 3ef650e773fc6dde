#!/usr/bin/env bash
# One command for a GPU server: the WebGPU adapter Dawn finds in Node, the WebGPU kernel checks and
# engine tests on it, then the training-step bench on Node's webgpu and wasm against the NumPy reference.
#
#   scripts/gpu-check.sh [OUT.json] [more bench options…]
#
# OUT.json defaults to bench-results/gpu-check-<date>.json; the printed report (.md) and, after the
# scaling sweep, its chart (.svg) go beside it (never over docs/bench-scaling.svg). Options after it go
# to `npm run bench` (e.g. --no-scaling, --full). The only network it needs is the npm registry, and
# only when node_modules is missing or incomplete.
#
# Environment: GPU_CHECK_SIZES (default small,medium,gpt2) and GPU_CHECK_VARIANTS (default: the
# bench's, every variant) narrow the bench, e.g. GPU_CHECK_SIZES=small GPU_CHECK_VARIANTS=topk,relu
# for a quick pass on a software adapter.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=${1:-bench-results/gpu-check-$(date +%Y-%m-%d-%H%M).json}
[[ $# -gt 0 ]] && shift
sizes=${GPU_CHECK_SIZES:-small,medium,gpt2}

step() { printf '\n== %s\n' "$*" >&2; }
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "gpu-check: $tool is not installed (Node 20.19+, 22.12+ or 24+ with npm)" >&2; exit 1; }
done
# A missing install, or one that lacks a package of package.json (`npm ls` checks offline): npm ci
# installs exactly the lock file, Dawn's prebuilt binary (the webgpu package) included.
if [[ ! -d node_modules ]] || ! npm ls --depth=0 >/dev/null 2>&1; then
  step "npm ci"
  npm ci
fi

step "WebGPU adapter (Dawn, in Node)"
# Fails fast, with what the machine lacks and the fix, where Dawn finds no adapter.
npx tsx scripts/gpu-adapter.ts

step "WebGPU kernel checks and engine tests in Node"
# The wasm kernels are generated (gitignored), and the tests import them. CI=true makes a test that
# finds no adapter fail instead of skipping.
npm run --silent kernels
CI=true npx vitest run webgpu.test

step "Training-step bench: Node webgpu and wasm, sizes $sizes, NumPy reference"
# The bench runs the NumPy reference when python3 has numpy, with OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE removed from its environment (scripts/bench/native.ts), so nothing to do here.
args=(--node-only --backends node:webgpu,node:wasm --sizes "$sizes" --out "$out" --svg "${out%.json}.svg")
[[ -n ${GPU_CHECK_VARIANTS:-} ]] && args+=(--variants "$GPU_CHECK_VARIANTS")
mkdir -p "$(dirname "$out")"
npm run --silent bench -- "${args[@]}" "$@" | tee "${out%.json}.md"

echo "gpu-check: results in $out (report ${out%.json}.md)" >&2
