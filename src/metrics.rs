//! Prometheus metrics in the text exposition format (`GET /metrics`).
//!
//! Request counts and latency histograms are keyed by (method, route template, status), so
//! `/items/{key}` is one series whatever the key. The maps sit behind a plain mutex held only
//! for a hash-map update (never across an await); recording a request into a series that
//! exists allocates nothing. Storage figures are read from the engine's `Stats` when scraped.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

type Series = (String, String, u16);

/// The request series of one route: `(method, status, histogram)`, a handful each.
type RouteSeries = Vec<(String, u16, Histogram)>;

/// The node's counters.
#[derive(Default)]
pub struct Metrics {
    /// Keyed by route first, so a request finds its series by borrowed `&str`s.
    requests: Mutex<HashMap<String, RouteSeries>>,
    quorum_failures: Mutex<BTreeMap<String, u64>>,
    read_repairs: AtomicU64,
    moved_keys: AtomicU64,
    moved_bytes: AtomicU64,
    gossip_sent: AtomicU64,
    gossip_received: AtomicU64,
    pub anti_entropy: AntiEntropyMetrics,
}

/// Anti-entropy's counters (`src/anti_entropy/`).
#[derive(Default)]
pub struct AntiEntropyMetrics {
    /// Exchanges by result: `equal`, `repaired`, `failed`.
    exchanges: Mutex<BTreeMap<&'static str, u64>>,
    compared: AtomicU64,
    repaired: AtomicU64,
    collected: AtomicU64,
    /// Bytes by (kind, direction): `tree`, `keys`, `data`; `sent`, `received`.
    bytes: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Per peer (the range a node shares with it): when an exchange last found it equal (ms).
    last_full: Mutex<BTreeMap<String, u64>>,
}

impl AntiEntropyMetrics {
    pub fn exchange(&self, result: &'static str) {
        *self
            .exchanges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(result)
            .or_default() += 1;
    }
    /// Tree nodes (inner and leaf buckets) compared.
    pub fn compared(&self, n: u64) {
        self.compared.fetch_add(n, Ordering::Relaxed);
    }
    pub fn repaired(&self, keys: u64) {
        self.repaired.fetch_add(keys, Ordering::Relaxed);
    }
    pub fn collected(&self, keys: u64) {
        self.collected.fetch_add(keys, Ordering::Relaxed);
    }
    /// Bytes of the messages of exchanges this node started, sent and received, by kind (the
    /// answering side counts nothing, so a cluster's sum counts each byte once).
    pub fn bytes(&self, kind: &str, sent: u64, received: u64) {
        let mut map = self.bytes.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((kind.to_string(), "sent")).or_default() += sent;
        *map.entry((kind.to_string(), "received")).or_default() += received;
    }
    pub fn full_exchange(&self, peer: &str, at_ms: u64) {
        self.last_full
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer.to_string(), at_ms);
    }

    fn render(&self, out: &mut String) {
        out.push_str("# HELP ringkv_anti_entropy_exchanges_total Anti-entropy exchanges this node started, by result.\n");
        out.push_str("# TYPE ringkv_anti_entropy_exchanges_total counter\n");
        let exchanges = self
            .exchanges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for result in ["equal", "repaired", "failed"] {
            let n = exchanges.get(result).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "ringkv_anti_entropy_exchanges_total{{result=\"{result}\"}} {n}"
            );
        }
        let counters = [
            (
                "ringkv_anti_entropy_buckets_compared_total",
                "Tree nodes (inner and leaf buckets) compared.",
                &self.compared,
            ),
            (
                "ringkv_anti_entropy_keys_repaired_total",
                "Keys found different and merged both ways.",
                &self.repaired,
            ),
            (
                "ringkv_anti_entropy_tombstones_collected_total",
                "Tombstones dropped once every replica held them.",
                &self.collected,
            ),
        ];
        for (name, help, value) in counters {
            gauge(out, name, "counter", help, value.load(Ordering::Relaxed));
        }
        out.push_str("# HELP ringkv_anti_entropy_bytes_total Bytes of the exchanges this node started, both ways (tree digests, key listings, repaired sets).\n");
        out.push_str("# TYPE ringkv_anti_entropy_bytes_total counter\n");
        let bytes = self.bytes.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for ((kind, dir), n) in &bytes {
            let _ = writeln!(
                out,
                "ringkv_anti_entropy_bytes_total{{kind=\"{kind}\",dir=\"{dir}\"}} {n}"
            );
        }
        out.push_str("# HELP ringkv_anti_entropy_last_full_exchange_seconds When an exchange last found the range shared with a peer equal (Unix time).\n");
        out.push_str("# TYPE ringkv_anti_entropy_last_full_exchange_seconds gauge\n");
        let last = self
            .last_full
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (peer, ms) in &last {
            let _ = writeln!(
                out,
                "ringkv_anti_entropy_last_full_exchange_seconds{{peer=\"{}\"}} {}",
                escape(peer),
                *ms as f64 / 1000.0
            );
        }
    }
}

impl Metrics {
    /// Records one HTTP request.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(route) {
            map.insert(route.to_string(), Vec::new());
        }
        let series = map.get_mut(route).expect("inserted above");
        let h = match series
            .iter()
            .position(|(m, s, _)| m == method && *s == status)
        {
            Some(i) => &mut series[i].2,
            None => {
                series.push((method.to_string(), status, Histogram::default()));
                &mut series.last_mut().expect("just pushed").2
            }
        };
        h.count += 1;
        h.sum += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
    }

    /// A read, write or list that did not reach its quorum.
    pub fn quorum_failure(&self, op: &str) {
        let mut map = self
            .quorum_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *map.entry(op.to_string()).or_default() += 1;
    }

    /// A replica that read repair brought up to date.
    pub fn read_repair(&self) {
        self.read_repairs.fetch_add(1, Ordering::Relaxed);
    }

    /// Keys (and their bytes) this node moved in or out for a membership change.
    pub fn moved(&self, keys: u64, bytes: u64) {
        self.moved_keys.fetch_add(keys, Ordering::Relaxed);
        self.moved_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Gossip bytes this node sent (requests) or received (requests and replies).
    pub fn gossip(&self, sent: u64, received: u64) {
        self.gossip_sent.fetch_add(sent, Ordering::Relaxed);
        self.gossip_received.fetch_add(received, Ordering::Relaxed);
    }

    /// The exposition text, storage figures included.
    pub fn render(&self, storage: &ringkv_storage::Stats, members: usize) -> String {
        let mut out = String::new();
        let requests: BTreeMap<Series, Histogram> = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .flat_map(|(route, series)| {
                series.iter().map(|(method, status, h)| {
                    ((method.clone(), route.clone(), *status), h.clone())
                })
            })
            .collect();
        out.push_str("# HELP ringkv_http_requests_total HTTP requests served.\n");
        out.push_str("# TYPE ringkv_http_requests_total counter\n");
        for ((method, route, status), h) in &requests {
            let _ = writeln!(
                out,
                "ringkv_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                h.count
            );
        }
        out.push_str("# HELP ringkv_http_request_duration_seconds Latency of HTTP requests.\n");
        out.push_str("# TYPE ringkv_http_request_duration_seconds histogram\n");
        for ((method, route, status), h) in &requests {
            let labels = format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                escape(route)
            );
            for (bound, count) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "ringkv_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "ringkv_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "ringkv_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "ringkv_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP ringkv_quorum_failures_total Operations that missed their quorum.\n");
        out.push_str("# TYPE ringkv_quorum_failures_total counter\n");
        let failures = self
            .quorum_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for op in ["read", "write", "list"] {
            let n = failures.get(op).copied().unwrap_or(0);
            let _ = writeln!(out, "ringkv_quorum_failures_total{{op=\"{op}\"}} {n}");
        }
        gauge(
            &mut out,
            "ringkv_read_repairs_total",
            "counter",
            "Replicas updated by read repair.",
            self.read_repairs.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "ringkv_moved_keys_total",
            "counter",
            "Keys this node moved in or out for membership changes (joins, leaves, removals).",
            self.moved_keys.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "ringkv_moved_bytes_total",
            "counter",
            "Bytes of the keys this node moved for membership changes.",
            self.moved_bytes.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "ringkv_gossip_sent_bytes_total",
            "counter",
            "Gossip message bytes this node sent.",
            self.gossip_sent.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "ringkv_gossip_received_bytes_total",
            "counter",
            "Gossip message bytes this node received.",
            self.gossip_received.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "ringkv_cluster_members",
            "gauge",
            "Members in this node's view.",
            members as u64,
        );
        self.anti_entropy.render(&mut out);
        storage_metrics(&mut out, storage);
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn gauge(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

fn storage_metrics(out: &mut String, s: &ringkv_storage::Stats) {
    out.push_str("# HELP ringkv_storage_tables Tables on each LSM level.\n");
    out.push_str("# TYPE ringkv_storage_tables gauge\n");
    for (level, n) in s.tables_per_level.iter().enumerate() {
        let _ = writeln!(out, "ringkv_storage_tables{{level=\"{level}\"}} {n}");
    }
    let rows: [(&str, &str, &str, u64); 10] = [
        (
            "ringkv_storage_table_bytes",
            "gauge",
            "Bytes in SSTables.",
            s.table_bytes,
        ),
        (
            "ringkv_storage_memtable_bytes",
            "gauge",
            "Bytes in memtables.",
            s.memtable_bytes,
        ),
        (
            "ringkv_storage_log_bytes",
            "gauge",
            "Bytes in the commit log.",
            s.log_bytes,
        ),
        (
            "ringkv_storage_bloom_negatives_total",
            "counter",
            "Lookups a bloom filter answered.",
            s.bloom_negatives,
        ),
        (
            "ringkv_storage_bloom_false_positives_total",
            "counter",
            "Bloom filter false positives.",
            s.bloom_false_positives,
        ),
        (
            "ringkv_storage_data_block_reads_total",
            "counter",
            "Data blocks read.",
            s.data_block_reads,
        ),
        (
            "ringkv_storage_flushes_total",
            "counter",
            "Memtable flushes.",
            s.flushes,
        ),
        (
            "ringkv_storage_compactions_total",
            "counter",
            "Compactions run.",
            s.compactions,
        ),
        (
            "ringkv_storage_write_stalls_total",
            "counter",
            "Writes slowed by flush backlog.",
            s.write_stalls,
        ),
        (
            "ringkv_storage_levels",
            "gauge",
            "LSM levels.",
            s.tables_per_level.len() as u64,
        ),
    ];
    for (name, kind, help, value) in rows {
        gauge(out, name, kind, help, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_and_storage() {
        let m = Metrics::default();
        m.observe("GET", "/items/{key}", 200, Duration::from_millis(3));
        m.quorum_failure("write");
        let text = m.render(&ringkv_storage::Stats::default(), 3);
        assert!(text.contains(
            "ringkv_http_requests_total{method=\"GET\",route=\"/items/{key}\",status=\"200\"} 1"
        ));
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("le=\"0.001\"} 0"));
        assert!(text.contains("ringkv_quorum_failures_total{op=\"write\"} 1"));
        assert!(text.contains("ringkv_cluster_members 3"));
    }
}
