#!/usr/bin/env bash
# Fuzzes the OpenAPI document of a running 3-node cluster with schemathesis (`--checks all`):
# every schema-valid request must be accepted (or answered with a status its state explains,
# see schemathesis.toml), every schema-violating one rejected with a 4xx, no 5xx, every
# response as documented.
#
#   scripts/schemathesis.sh [extra schemathesis args, e.g. --max-examples 50]
#
# Needs `pip install schemathesis` (4.x). Builds ringkv, starts `ringkv dev` on three free
# ports under a temp dir, and runs three passes: everything but PUT /config and
# DELETE /peers/{id} (the repo's schemathesis.toml), then each of those two alone
# (scripts/schemathesis-config.toml): they change the cluster under test (n bounds r and w in
# the document a pass generates from; a member that left answers key requests 503).
#
# As root, the cluster and schemathesis run in a private network namespace (`unshare -n`,
# loopback only), so generated peer URLs (POST /peers) can reach nothing off this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${RINGKV_SCHEMATHESIS_NETNS:-}" != 1 && $(id -u) == 0 ]] && command -v unshare >/dev/null; then
    cargo build --quiet --bin ringkv
    exec unshare -n env RINGKV_SCHEMATHESIS_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi
command -v schemathesis >/dev/null || { echo "schemathesis is not installed: pip install schemathesis" >&2; exit 2; }
cargo build --quiet --bin ringkv
bin="${CARGO_TARGET_DIR:-target}/debug/ringkv"
dir="$(mktemp -d)"
ports="$(python3 -c 'import socket
s=[socket.socket() for _ in range(3)]
[x.bind(("127.0.0.1",0)) for x in s]
print(",".join(str(x.getsockname()[1]) for x in s))')"
"$bin" dev --base-dir "$dir/data" --ports "$ports" >"$dir/dev.out" 2>"$dir/dev.err" &
dev=$!
trap 'kill -INT $dev 2>/dev/null; wait $dev 2>/dev/null; rm -rf "$dir"' EXIT
url="http://127.0.0.1:${ports%%,*}"
for _ in $(seq 100); do curl -sf "$url/healthcheck" >/dev/null && break; sleep 0.2; done
echo "== pass: every operation but PUT /config and DELETE /peers/{id}, against $url"
schemathesis run --checks all "$url/openapi.json" "$@"
for op in 'PUT /config' 'DELETE /peers/{id}'; do
    echo "== pass: $op alone"
    schemathesis --config-file scripts/schemathesis-config.toml run --checks all \
        --include-name "$op" "$url/openapi.json" "$@"
done
