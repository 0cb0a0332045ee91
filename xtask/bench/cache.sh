#!/usr/bin/env bash
# What the stage cache saves, on the machine it runs on:
#   full       `cargo xtask ci` with an empty stage cache (cargo's and npm's own caches warm)
#   no-op      `cargo xtask ci` again, nothing changed
#   floor      `cargo xtask ci --dry-run`: listing and hashing every stage's inputs, the work a
#              no-op rerun cannot skip
#   one file   `cargo xtask ci` after changing one frontend source file (restored afterwards)
# Usage: bash xtask/bench/cache.sh [FRONTEND_FILE]   (default frontend/src/main.tsx)
set -euo pipefail
cd "$(dirname "$0")/../.."

file=${1:-frontend/src/main.tsx}
[ -f "$file" ] || { echo "no such file: $file (pass a frontend source file)" >&2; exit 2; }

ms() { local start; start=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; echo $(( ($(date +%s%N) - start) / 1000000 )); }

cargo build --quiet -p xtask
cargo xtask cache clean >/dev/null
full=$(ms cargo xtask ci)
noop=$(ms cargo xtask ci)
floor=$(ms cargo xtask ci --dry-run)

backup=$(mktemp)
cp "$file" "$backup"
trap 'cp "$backup" "$file"; rm -f "$backup"' EXIT
printf '\n// cache benchmark: one changed line\n' >>"$file"
one=$(ms cargo xtask ci)

echo "full run, empty stage cache:   ${full} ms"
echo "no-op rerun:                   ${noop} ms   (target < 3000 ms)"
echo "hashing floor (--dry-run):     ${floor} ms   (no-op / floor = $(( noop * 100 / (floor > 0 ? floor : 1) ))%)"
echo "one frontend file changed:     ${one} ms   ($(( one * 100 / full ))% of the full run)"
