#!/usr/bin/env bash
# A/B of ringkv binaries on the dev cluster, in one run so outside load hits every one alike:
# for each round, each binary in turn starts `ringkv dev` (3 nodes, N=3, R=W=2, fsync on every
# write), gets 10k keys preloaded, then `wrk -t2 -c64 --latency` puts and gets for SECONDS each,
# through 127.0.0.1:7777 (the load of ../shared/bench/side-by-side.sh). Prints every run, then
# the median requests/s, p99 and CPU per request (the dev process's user+system time over the
# run divided by the requests wrk counted: steadier than requests/s on a noisy machine) per
# binary and workload.
#
# usage: scripts/perf-ab.sh SECONDS ROUNDS BIN [BIN...]     (needs wrk and python3)
set -euo pipefail
secs=${1:?seconds}; rounds=${2:?rounds}; shift 2
here=$(cd "$(dirname "$0")" && pwd)
lua=${RINGKV_BENCH_LUA:-$here/../../shared/bench}
out=$(mktemp -d)
trap 'pkill -f "ringkv-ab-dev" 2>/dev/null || true; rm -rf "$out"' EXIT

run_one() { # bin label round
  local dir="$out/$2-$3"; mkdir -p "$dir"
  (cd "$dir" && exec -a ringkv-ab-dev "$1" dev >"$dir/dev.log" 2>&1) &
  local pid=$!
  for _ in $(seq 100); do curl -sf localhost:7777/healthcheck?ready=true >/dev/null && curl -sf localhost:9999/healthcheck?ready=true >/dev/null && break; sleep 0.2; done
  python3 - <<'PY'
import json, urllib.request
from concurrent.futures import ThreadPoolExecutor
def put(i):
    req = urllib.request.Request(f"http://127.0.0.1:7777/items/key{i}", data=json.dumps({"value": "v"*100}).encode(), method="PUT", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
with ThreadPoolExecutor(16) as ex: list(ex.map(put, range(1, 10001)))
PY
  local hz; hz=$(getconf CLK_TCK)
  for w in put get; do
    local t0 t1 r n
    t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
    r=$(wrk -t2 -c64 -d"${secs}s" --latency -s "$lua/ringkv-$w.lua" http://127.0.0.1:7777 2>&1)
    t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
    n=$(echo "$r" | awk '/requests in/{print $1}')
    echo "$2 $w $(echo "$r" | awk '/Requests\/sec/{print $2}') $(echo "$r" | awk '$1=="99%"{print $2}') $(awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$hz" 'BEGIN{printf "%.1f", (b-a)*1e6/hz/n}') $(echo "$r" | awk '/Non-2xx/{print $NF}')"
  done
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
}

results="$out/results"
for round in $(seq "$rounds"); do
  for bin in "$@"; do
    run_one "$bin" "$(basename "$bin")" "$round" | tee -a "$results"
  done
done
echo "== medians (requests/s, p99)"
python3 - "$results" <<'PY'
import sys, statistics, collections
def ms(t):
    t = t.strip()
    for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if t.endswith(unit): return float(t[:-len(unit)]) * f
    return float("nan")
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) >= 5: runs[(parts[0], parts[1])].append((float(parts[2]), ms(parts[3]), float(parts[4])))
for (label, w), vals in sorted(runs.items()):
    med = lambda i: statistics.median(v[i] for v in vals)
    print(f"{label} {w} rps={med(0):.0f} p99={med(1):.1f}ms cpu_us_per_req={med(2):.1f} runs={len(vals)}")
PY
