#!/usr/bin/env bash
# Write throughput of a node cluster with anti-entropy on and off, in one run (alternated, so
# outside load hits both alike): each round starts `ringkv dev` (3 nodes, N=3, R=W=2) once with
# and once without anti-entropy (RINGKV_ANTI_ENTROPY_OFF, a measurement switch), runs
# `ringkv bench` writes for SECONDS, and stops it. Prints every run and the medians.
#
# usage: scripts/ae-cost.sh BIN SECONDS ROUNDS      (BIN: a release-built ringkv)
set -euo pipefail
bin=${1:?ringkv binary}; secs=${2:?seconds}; rounds=${3:?rounds}
out=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null; rm -rf "$out"' EXIT
run_one() { # mode round
  local dir="$out/$1-$2"; mkdir -p "$dir"
  if [ "$1" = off ]; then export RINGKV_ANTI_ENTROPY_OFF=1; else unset RINGKV_ANTI_ENTROPY_OFF; fi
  "$bin" dev --base-dir "$dir/data" >"$dir/dev.log" 2>&1 &
  pid=$!
  for _ in $(seq 150); do curl -sf localhost:9999/healthcheck?ready=true >/dev/null && break; sleep 0.2; done
  local r; r=$("$bin" bench --clients 64 --duration "$secs" --keys 10000 --value-size 100 --read-ratio 0 2>&1)
  echo "$1 $(echo "$r" | awk '$1=="write"{print $2}')"
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true; pid=
}
for round in $(seq "$rounds"); do
  for mode in off on; do run_one "$mode" "$round" | tee -a "$out/results"; done
done
python3 - "$out/results" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) >= 2:
        runs.setdefault(parts[0], []).append(float(parts[1]))
off, on = statistics.median(runs["off"]), statistics.median(runs["on"])
print(f"median writes/s: off {off:.0f}, on {on:.0f}: cost {(1 - on / off) * 100:.1f}%")
PY
