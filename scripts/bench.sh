#!/usr/bin/env bash
# Benchmark fileca against `openssl ca` in one run; writes docs/benchmarks.md.
# Usage: scripts/bench.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v openssl >/dev/null || { echo "openssl is required (apt-get install openssl)"; exit 2; }
[ -x /usr/bin/time ] || { echo "GNU time is required for peak RSS (apt-get install time)"; exit 2; }
cargo build --release -q
exec python3 scripts/bench.py "$@"
