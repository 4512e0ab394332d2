//! A single node's GET at R=1 against a bare axum handler serving an in-memory map, under the
//! same wrk load in one run (issue 13's baseline: the node should reach half the bare handler).
//!
//! usage: `cargo bench --bench node_get [-- SECONDS [ROUNDS]]`   (needs `wrk` on PATH;
//! `RINGKV_BENCH_NODE=path/to/ringkv` measures that build of the node instead)
//!
//! Both servers answer `GET /items/key<i>` for 10k preloaded keys with 100-byte values, each in
//! its own process with a multi-threaded tokio runtime and mimalloc (the node's allocator): the
//! bare handler in this bench process, the node as the release `ringkv serve` (N=R=W=1). Rounds
//! alternate between them so outside load hits both alike; the medians and their ratio are
//! printed last. wrk runs as in `../shared/bench/side-by-side.sh`: `-t2 -c64 --latency`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KEYS: usize = 10_000;
const LUA: &str = "request = function()\n  return wrk.format('GET', '/items/key' .. math.random(1, 10000))\nend\n";

fn value_json() -> String {
    serde_json::json!({ "value": "v".repeat(100) }).to_string()
}

/// The bare baseline: the map lookup and a JSON body, nothing else.
async fn bare_get(
    State(map): State<Arc<HashMap<String, bytes::Bytes>>>,
    Path(key): Path<String>,
) -> Response {
    match map.get(&key) {
        Some(body) => ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn start_bare() -> String {
    let body = bytes::Bytes::from(value_json());
    let map: HashMap<String, bytes::Bytes> = (1..=KEYS)
        .map(|i| (format!("key{i}"), body.clone()))
        .collect();
    let app = Router::new()
        .route("/items/{key}", get(bare_get))
        .with_state(Arc::new(map));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    url
}

struct Node {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node() -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    // `RINGKV_BENCH_NODE` runs another build of the node (an A/B of two versions).
    let bin = std::env::var_os("RINGKV_BENCH_NODE")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_ringkv").into());
    let mut child = Command::new(bin)
        .args(["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .args([
            "--set",
            "quorum.n=1",
            "--set",
            "quorum.r=1",
            "--set",
            "quorum.w=1",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning ringkv serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut url = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("reading the node's stdout");
        if let Some(rest) = line.split("listening on ").nth(1) {
            url = Some(
                rest.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            );
            break;
        }
    }
    let url = url.expect("the node printed no `listening on` line");
    Node {
        child,
        url,
        _dir: dir,
    }
}

fn preload(url: &str) {
    let client = reqwest::blocking::Client::new();
    let body = value_json();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{url}/healthcheck?ready=true"))
        .send()
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "the node never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    for i in 1..=KEYS {
        let r = client
            .put(format!("{url}/items/key{i}"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .expect("preload PUT");
        assert!(
            r.status().is_success(),
            "preload PUT answered {}",
            r.status()
        );
    }
}

/// One wrk run: (requests/s, p99 in ms, non-2xx count).
fn wrk(url: &str, secs: u64, lua: &std::path::Path) -> (f64, f64, u64) {
    let out = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{secs}s"), "--latency", "-s"])
        .arg(lua)
        .arg(url)
        .output()
        .expect("running wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rps = 0.0;
    let mut p99 = 0.0;
    let mut non2xx = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["Requests/sec:", v] => rps = v.parse().unwrap_or(0.0),
            ["99%", v] => p99 = ms(v),
            ["Non-2xx", "or", "3xx", "responses:", n] => non2xx = n.parse().unwrap_or(0),
            _ => {}
        }
    }
    (rps, p99, non2xx)
}

/// wrk's latency ("850.00us", "1.20ms", "2.01s") in ms.
fn ms(v: &str) -> f64 {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>().unwrap_or(0.0) * scale
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; the numbers after it are ours.
    let nums: Vec<u64> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    let secs = nums.first().copied().unwrap_or(10);
    let rounds = nums.get(1).copied().unwrap_or(3).max(1);
    let lua_dir = tempfile::tempdir().expect("tempdir");
    let lua = lua_dir.path().join("get.lua");
    std::fs::write(&lua, LUA).expect("writing the wrk script");

    let bare = start_bare();
    let node = start_node();
    preload(&node.url);
    let mut results: [(Vec<f64>, Vec<f64>); 2] = Default::default();
    for round in 1..=rounds {
        for (i, (name, url)) in [("bare_axum", &bare), ("ringkv_node", &node.url)]
            .into_iter()
            .enumerate()
        {
            let (rps, p99, non2xx) = wrk(url, secs, &lua);
            assert_eq!(non2xx, 0, "{name} answered non-2xx under load");
            println!("round {round} {name} rps={rps:.0} p99_ms={p99:.2}");
            results[i].0.push(rps);
            results[i].1.push(p99);
        }
    }
    let [(bare_rps, bare_p99), (node_rps, node_p99)] = results;
    let (b, n) = (median(bare_rps), median(node_rps));
    println!(
        "median bare_axum rps={b:.0} p99_ms={:.2} | ringkv_node rps={n:.0} p99_ms={:.2} | ratio={:.2}",
        median(bare_p99),
        median(node_p99),
        n / b
    );
}
