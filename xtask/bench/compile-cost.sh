#!/usr/bin/env bash
# What the xtask costs before any stage runs, on every fresh CI runner:
#   cold: building the xtask (all that `cargo xtask lint` needs) into an empty target directory,
#         with the crates already downloaded;
#   warm: `cargo xtask --help` once built, median of 20 runs (cargo's up-to-date check included).
# Usage: bash xtask/bench/compile-cost.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
cargo fetch --quiet

cold_dir=$(mktemp -d)
trap 'rm -rf "$cold_dir"' EXIT
start=$(date +%s%N)
CARGO_TARGET_DIR="$cold_dir" cargo build --quiet -p xtask
cold_ms=$(ms_since "$start")

cargo build --quiet -p xtask
samples=()
for _ in $(seq 20); do
  start=$(date +%s%N)
  cargo xtask --help >/dev/null 2>&1
  samples+=("$(ms_since "$start")")
done
warm_ms=$(printf '%s\n' "${samples[@]}" | sort -n | sed -n 10p)

echo "cold build of the xtask:     ${cold_ms} ms   (target <= 60000 ms)"
echo "warm 'cargo xtask --help':   ${warm_ms} ms   (target <= 300 ms, median of 20)"
printf 'cores: %s\n' "$(nproc)"
