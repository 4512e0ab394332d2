#!/usr/bin/env bash
# ../shared/bench/side-by-side.sh for several ringkv builds in one run: for each binary in turn,
# start `ringkv dev` (3 nodes, N=3, R=W=2, fsync on every write) on a fresh data dir, run the
# shared script against it (a fresh 3-member etcd each time, same wrk load), stop it. Prints
# the script's put/get lines prefixed with the binary's name.
#
# usage: scripts/side-by-side-ab.sh SECONDS BIN [BIN...]     (needs wrk, etcd-server, python3)
set -euo pipefail
secs=${1:?seconds}; shift
here=$(cd "$(dirname "$0")" && pwd)
sbs=${RINGKV_SIDE_BY_SIDE:-$here/../../shared/bench/side-by-side.sh}
out=$(mktemp -d)
trap 'pkill -f "ringkv-sbs-dev" 2>/dev/null || true; rm -rf "$out"' EXIT

for bin in "$@"; do
  label=$(basename "$bin")
  dir="$out/$label"; mkdir -p "$dir"
  (cd "$dir" && exec -a ringkv-sbs-dev "$bin" dev >"$dir/dev.log" 2>&1) &
  pid=$!
  for _ in $(seq 100); do
    curl -sf localhost:7777/healthcheck?ready=true >/dev/null &&
      curl -sf localhost:9999/healthcheck?ready=true >/dev/null && break
    sleep 0.2
  done
  # The shared script gives up when etcd's third member is slow to answer its first status:
  # one more try after a pause.
  lines=""
  for _ in 1 2; do
    lines=$("$sbs" http://127.0.0.1:7777 "$secs" 2>/dev/null | grep -E '^(put|get) ' || true)
    [ -n "$lines" ] && break
    sleep 10
  done
  echo "$lines" | sed "s/^/$label /"
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  sleep 5
done
