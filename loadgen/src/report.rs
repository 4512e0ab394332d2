//! The figures of a finished run, as a value ([`Report`]), as an aligned table (`Display`) and as
//! JSON (`Serialize`, for `--json`).
//!
//! Throughput counts answered requests only (oks and misses), over the wall time from the first
//! request of the measured phase to the last answer; failed requests are counted apart, by HTTP
//! status or by transport failure, per operation. Latencies are in microseconds in the value and
//! the JSON, in milliseconds in the table.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::stats::Failure;

/// A request that got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportError {
    /// No connection could be made (refused, unreachable, connect timeout).
    Connect,
    /// No complete answer within `--timeout-ms`.
    Timeout,
    /// The connection failed while sending or before a response head arrived.
    Request,
    /// The response body broke off.
    Body,
}

impl TransportError {
    pub(crate) fn classify_request(e: &hyper_util::client::legacy::Error) -> Self {
        if e.is_connect() {
            Self::Connect
        } else {
            Self::Request
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Request => "request",
            Self::Body => "body",
        }
    }
}

/// Failed requests of one operation, by HTTP status and by transport failure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts {
    /// Requests answered with an unexpected status (e.g. 503), by status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests that got no answer, by kind.
    pub transport: BTreeMap<TransportError, u64>,
}

impl ErrorCounts {
    /// All failed requests.
    pub fn total(&self) -> u64 {
        self.by_status.values().chain(self.transport.values()).sum()
    }

    /// Requests answered with `status`.
    pub fn status(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// Requests that failed with transport error `kind`.
    pub fn transport(&self, kind: TransportError) -> u64 {
        self.transport.get(&kind).copied().unwrap_or(0)
    }

    pub(crate) fn add(&mut self, failure: Failure, n: u64) {
        match failure {
            Failure::Status(s) => *self.by_status.entry(s.as_u16()).or_default() += n,
            Failure::Transport(t) => *self.transport.entry(t).or_default() += n,
        }
    }

    pub(crate) fn merge(&mut self, other: &ErrorCounts) {
        for (status, n) in &other.by_status {
            *self.by_status.entry(*status).or_default() += n;
        }
        for (kind, n) in &other.transport {
            *self.transport.entry(*kind).or_default() += n;
        }
    }
}

/// Latency percentiles of the answered requests of one operation, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

/// The figures of one operation (reads, writes, or both together).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpReport {
    /// Successful requests (read 200 or 300, write 200 or 201).
    pub ok: u64,
    /// Reads answered 404 in a run without `--prefill`.
    pub misses: u64,
    /// Reads answered 300 (included in `ok`).
    pub siblings: u64,
    /// Failed requests.
    pub errors: ErrorCounts,
    /// Answered requests (`ok + misses`) per second of the run.
    pub ops_per_sec: f64,
    /// Percentiles over answered requests; `None` when nothing was answered.
    pub latency: Option<Latency>,
}

impl OpReport {
    /// Requests sent, answered or not.
    pub fn requests(&self) -> u64 {
        self.ok + self.misses + self.errors.total()
    }
}

/// What the run was asked to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    pub nodes: Vec<String>,
    pub clients: usize,
    pub duration_secs: Option<f64>,
    pub requests: Option<u64>,
    pub read_ratio: f64,
    pub keys: u64,
    pub value_size: usize,
    pub prefill: bool,
    pub r: Option<u32>,
    pub w: Option<u32>,
    pub seed: u64,
}

/// The `--prefill` phase: every key written once before measuring.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PrefillReport {
    /// Keys written (all of them: a prefill that misses a key fails the run).
    pub keys: u64,
    /// Write attempts, retries included.
    pub attempts: u64,
    pub elapsed_secs: f64,
}

/// The figures of a whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub settings: Settings,
    pub prefill: Option<PrefillReport>,
    /// The measured phase was cut short (Ctrl-C) before its deadline or request count.
    pub interrupted: bool,
    /// Wall time of the measured phase, in seconds.
    pub elapsed_secs: f64,
    pub reads: OpReport,
    pub writes: OpReport,
    /// Reads and writes together.
    pub total: OpReport,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        let quorum = match (s.r, s.w) {
            (None, None) => String::new(),
            (r, w) => format!(", r={} w={}", opt(r), opt(w)),
        };
        writeln!(
            f,
            "ringkv bench: {} node(s), {} clients, {} keys, {}-byte values, read ratio {:.2}{quorum}, seed {}",
            s.nodes.len(),
            s.clients,
            s.keys,
            s.value_size,
            s.read_ratio,
            s.seed
        )?;
        if let Some(p) = &self.prefill {
            writeln!(
                f,
                "prefill: {} keys written in {:.2} s ({} attempts)",
                p.keys, p.elapsed_secs, p.attempts
            )?;
        }
        write!(
            f,
            "ran {:.2} s{}: {} requests, {} ok, {} misses, {} errors",
            self.elapsed_secs,
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            },
            self.total.requests(),
            self.total.ok,
            self.total.misses,
            self.total.errors.total()
        )?;
        if self.reads.siblings > 0 {
            write!(f, " ({} reads found siblings: 300)", self.reads.siblings)?;
        }
        writeln!(f, "\n")?;
        write!(f, "{}", self.throughput_table())?;
        if self.total.errors.total() > 0 {
            write!(f, "\n{}", self.error_table())?;
        }
        Ok(())
    }
}

impl Report {
    fn throughput_table(&self) -> Table {
        let mut table = Table::new([
            "op", "ops/s", "ok", "misses", "errors", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms",
            "max ms",
        ]);
        for (name, op) in [
            ("read", &self.reads),
            ("write", &self.writes),
            ("total", &self.total),
        ] {
            let mut row = vec![
                name.to_owned(),
                format!("{:.1}", op.ops_per_sec),
                op.ok.to_string(),
                op.misses.to_string(),
                op.errors.total().to_string(),
            ];
            match op.latency {
                Some(l) => row.extend(
                    [l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us]
                        .map(|us| format!("{:.3}", us as f64 / 1000.0)),
                ),
                None => row.extend(std::iter::repeat_n("-".to_owned(), 5)),
            }
            table.push(row);
        }
        table
    }

    fn error_table(&self) -> Table {
        let mut table = Table::new(["errors", "read", "write"]);
        let statuses: std::collections::BTreeSet<u16> =
            self.total.errors.by_status.keys().copied().collect();
        for status in statuses {
            table.push(vec![
                format!("HTTP {status}"),
                self.reads.errors.status(status).to_string(),
                self.writes.errors.status(status).to_string(),
            ]);
        }
        for kind in self.total.errors.transport.keys().copied() {
            table.push(vec![
                format!("transport: {}", kind.as_str()),
                self.reads.errors.transport(kind).to_string(),
                self.writes.errors.transport(kind).to_string(),
            ]);
        }
        table
    }
}

fn opt(q: Option<u32>) -> String {
    q.map_or_else(|| "default".to_owned(), |q| q.to_string())
}

/// A text table: first column left-aligned, the others right-aligned, two spaces between.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new<const N: usize>(header: [&str; N]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c == 0 {
                    line.push_str(&format!("{cell:<w$}", w = widths[c]));
                } else {
                    line.push_str(&format!("  {cell:>w$}", w = widths[c]));
                }
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;

    fn latency(base_us: u64) -> Option<Latency> {
        Some(Latency {
            p50_us: base_us,
            p90_us: base_us * 2,
            p99_us: base_us * 4,
            p999_us: base_us * 8,
            max_us: base_us * 16,
            mean_us: base_us as f64,
        })
    }

    fn sample() -> Report {
        let mut read_errors = ErrorCounts::default();
        read_errors.add(Failure::Transport(TransportError::Timeout), 2);
        let mut write_errors = ErrorCounts::default();
        write_errors.add(Failure::Status(StatusCode::SERVICE_UNAVAILABLE), 7);
        let mut all_errors = read_errors.clone();
        all_errors.merge(&write_errors);
        Report {
            settings: Settings {
                nodes: vec![
                    "http://127.0.0.1:7777".into(),
                    "http://127.0.0.1:8888".into(),
                ],
                clients: 64,
                duration_secs: Some(10.0),
                requests: None,
                read_ratio: 0.5,
                keys: 10_000,
                value_size: 100,
                prefill: false,
                r: None,
                w: Some(3),
                seed: 42,
            },
            prefill: None,
            interrupted: false,
            elapsed_secs: 10.0,
            reads: OpReport {
                ok: 1000,
                misses: 500,
                siblings: 3,
                errors: read_errors,
                ops_per_sec: 150.0,
                latency: latency(1500),
            },
            writes: OpReport {
                ok: 1493,
                misses: 0,
                siblings: 0,
                errors: write_errors,
                ops_per_sec: 149.3,
                latency: latency(2500),
            },
            total: OpReport {
                ok: 2493,
                misses: 500,
                siblings: 3,
                errors: all_errors,
                ops_per_sec: 299.3,
                latency: latency(2000),
            },
        }
    }

    #[test]
    fn error_counts_add_up_by_status_and_transport() {
        let r = sample();
        assert_eq!(r.total.errors.total(), 9);
        assert_eq!(r.total.errors.status(503), 7);
        assert_eq!(r.total.errors.transport(TransportError::Timeout), 2);
        assert_eq!(r.total.errors.status(500), 0);
        assert_eq!(r.total.requests(), 2493 + 500 + 9);
    }

    #[test]
    fn table_shows_rates_percentiles_and_errors_aligned() {
        let text = sample().to_string();
        let expected = "\
ringkv bench: 2 node(s), 64 clients, 10000 keys, 100-byte values, read ratio 0.50, r=default w=3, seed 42
ran 10.00 s: 3002 requests, 2493 ok, 500 misses, 9 errors (3 reads found siblings: 300)

op     ops/s    ok  misses  errors  p50 ms  p90 ms  p99 ms  p99.9 ms  max ms
read   150.0  1000     500       2   1.500   3.000   6.000    12.000  24.000
write  149.3  1493       0       7   2.500   5.000  10.000    20.000  40.000
total  299.3  2493     500       9   2.000   4.000   8.000    16.000  32.000

errors              read  write
HTTP 503               0      7
transport: timeout     2      0
";
        assert_eq!(text, expected);
    }

    #[test]
    fn no_errors_no_error_table_and_dashes_without_answers() {
        let mut r = sample();
        for op in [&mut r.reads, &mut r.writes, &mut r.total] {
            op.errors = ErrorCounts::default();
        }
        r.writes.latency = None;
        let text = r.to_string();
        assert!(!text.contains("\nerrors"), "{text}");
        let write_line = text.lines().find(|l| l.starts_with("write")).unwrap();
        let dashes = write_line.split_whitespace().filter(|c| *c == "-").count();
        assert_eq!(dashes, 5, "{write_line}");
    }

    #[test]
    fn json_names_every_figure() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["writes"]["errors"]["by_status"]["503"], 7);
        assert_eq!(json["reads"]["errors"]["transport"]["timeout"], 2);
        assert_eq!(json["total"]["latency"]["p99_us"], 8000);
        assert_eq!(json["reads"]["misses"], 500);
        assert_eq!(json["settings"]["w"], 3);
        assert!(json["prefill"].is_null());
    }
}
