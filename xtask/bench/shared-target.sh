#!/usr/bin/env bash
# Two clones of this commit sharing one CARGO_TARGET_DIR: a run in one tree must never plan, cache
# or report the other. Cargo gives both trees' xtask the same artifact (its hash does not depend on
# where the workspace is) and finds it fresh in the second tree when that tree's xtask sources are
# older than the build, so the second tree runs the binary built from the first; the xtask then
# refuses in one line. After the fix the error names, the stage runs in its own tree.
# Usage: bash xtask/bench/shared-target.sh [TARGET_DIR]   (pass a warm target directory to reuse it;
# needs actionlint on PATH, the cheap stage it runs is lint-workflows)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export CARGO_TARGET_DIR="${1:-$scratch/target}"
commit=$(git -C "$repo" rev-parse HEAD)
for tree in a b; do
  git clone --quiet "$repo" "$scratch/$tree"
  git -C "$scratch/$tree" checkout --quiet "$commit"
done
run() { (cd "$scratch/$1" && cargo xtask ci --only lint-workflows 2>&1); }
fail() { echo "FAILED: $*"; exit 1; }

run a >/dev/null || fail "the first run in tree a"
echo "# changed in tree b only" >>"$scratch/b/.github/workflows/ci.yml"
out=$(run b) && fail "tree b ran with tree a's binary: $out"
grep -q "^error: this xtask binary was built from $scratch/a but runs in $scratch/b" <<<"$out" ||
  fail "tree b was not refused in one line: $out"
[ ! -e "$scratch/b/target/xtask/report.json" ] || fail "tree b has a report it did not earn"
echo "ok: tree b refused the binary built from tree a"

touch "$scratch/b/xtask/src/main.rs"
out=$(run b) || fail "tree b after the fix: $out"
grep -q "lint-workflows  passed" <<<"$out" || fail "the changed stage did not run in tree b: $out"
[ -e "$scratch/b/target/xtask/report.json" ] || fail "tree b has no report of its own"
echo "ok: after rebuilding, lint-workflows ran in tree b and reported there"
out=$(run a) && fail "tree a ran with tree b's binary: $out"
echo "ok: tree a now refuses tree b's binary in turn (one artifact per shared target directory)"
