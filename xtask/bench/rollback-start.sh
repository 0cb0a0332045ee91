#!/usr/bin/env bash
# How long `cargo xtask rollback` takes to reach its first AWS call (docs/runbook.md, "Roll back
# now"). A listener on loopback stands in for AWS (AWS_ENDPOINT_URL) and notes when the engine's
# first request (ecs:DescribeServices) connects; the request then fails, which is fine: nothing
# else is measured.
# Usage: bash xtask/bench/rollback-start.sh cold|warm|prebuilt [ENGINE]
#   cold:     a fresh clone of HEAD, an empty target directory (crates already downloaded)
#   warm:     this clone's target directory, as a rollback job with its cache restored has
#   prebuilt: ENGINE (an xtask-deploy binary) run directly inside a fresh clone, nothing built
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:?cold, warm or prebuilt}
work=$(mktemp -d)
trap 'kill "$listener" 2>/dev/null; rm -rf "$work"' EXIT

python3 -c "
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)
open('$work/port', 'w').write(str(s.getsockname()[1]))
c, _ = s.accept(); open('$work/first', 'w').write('%.3f' % time.time()); c.close()
" &
listener=$!
until [ -s "$work/port" ]; do sleep 0.1; done

port=$(cat "$work/port")
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=eu-central-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_MAX_ATTEMPTS=1
case "$mode" in
  cold)
    git clone --quiet . "$work/clone"
    start=$(date +%s.%N)
    (cd "$work/clone" && CARGO_TARGET_DIR="$work/target" cargo xtask rollback staging --dry-run) >"$work/log" 2>&1 || true ;;
  warm)
    cargo build --quiet -p xtask -p xtask-deploy
    start=$(date +%s.%N)
    cargo xtask rollback staging --dry-run >"$work/log" 2>&1 || true ;;
  prebuilt)
    engine=$(realpath "${2:?the xtask-deploy binary}")
    git clone --quiet . "$work/clone"
    start=$(date +%s.%N)
    (cd "$work/clone" && "$engine" rollback staging --dry-run) >"$work/log" 2>&1 || true ;;
  *) echo "usage: $0 cold|warm|prebuilt [ENGINE]" >&2; exit 2 ;;
esac
sleep 0.2
if [ ! -s "$work/first" ]; then
  echo "the engine made no AWS call; its output:" >&2; cat "$work/log" >&2; exit 1
fi
echo "$mode: first AWS call after $(echo "$(cat "$work/first") - $start" | bc) s"
