#!/usr/bin/env bash
# Short, bounded fuzz run of every target in fuzz/ (cargo-fuzz, libFuzzer).
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain; on stable only,
# it runs with `-s none` (no sanitizer), as cargo-fuzz allows.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
# A crash leaves its input under fuzz/artifacts/<target>/: add it to the regression tests.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is not installed: cargo install cargo-fuzz"; exit 2; }
if rustup toolchain list 2>/dev/null | grep -q nightly; then tc=(+nightly); san=(); else tc=(); san=(-s none); fi
mkdir -p fuzz/corpus/csr_gate fuzz/corpus/state_files
cp testdata/csr/*.pem testdata/bad/* fuzz/corpus/csr_gate/ 2>/dev/null || true
for t in csr_gate state_files ocsp_request; do
  echo "== fuzzing $t for ${secs}s"
  cargo "${tc[@]}" fuzz run "${san[@]}" "$t" -- -max_total_time="$secs" -rss_limit_mb=2048
done
