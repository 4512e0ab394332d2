//! Command-line arguments of `ringkv bench` and their validation into a `Plan`.
//!
//! `BenchArgs` is what clap parses (the node's CLI flattens it into its `bench` subcommand);
//! `BenchArgs::plan` checks every value once, up front, so the request loops never meet a bad
//! setting. Invariants of a `Plan`: at least one node, each a plain `http://` base URL without a
//! trailing slash; counts are positive; the read ratio is within `0.0..=1.0`; the run stops (a
//! duration, a request count, or both).

use std::time::Duration;

use crate::error::BenchError;
use crate::workload::KeySpace;

/// The nodes of `ringkv dev`.
pub const DEFAULT_URLS: &str = "http://127.0.0.1:7777,http://127.0.0.1:8888,http://127.0.0.1:9999";

/// How long a run lasts when neither `--duration` nor `--requests` is given.
pub const DEFAULT_DURATION_SECS: f64 = 10.0;

/// The largest `--value-size` accepted (a node refuses values over 1 MiB by default anyway; larger
/// sizes are allowed so that limit itself can be exercised).
pub const MAX_VALUE_SIZE: usize = 64 << 20;

/// Arguments of `ringkv bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Base URL of a node; repeat or comma-separate for several. Requests rotate over them.
    #[arg(long = "url", value_name = "URL", value_delimiter = ',', default_value = DEFAULT_URLS)]
    pub urls: Vec<String>,

    /// Concurrent clients, each a task sending requests back to back (closed loop).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub clients: usize,

    /// How long to run, in seconds [default: 10 unless --requests is given].
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,

    /// Stop after this many requests in total (with --duration: whichever comes first).
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,

    /// Fraction of requests that are reads: 0 = writes only, 1 = reads only.
    #[arg(long, value_name = "RATIO", default_value_t = 0.5)]
    pub read_ratio: f64,

    /// Number of distinct keys (`bench-00000000` ...), chosen uniformly.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub keys: u64,

    /// Length in bytes of the JSON string written as each value.
    #[arg(long, value_name = "BYTES", default_value_t = 100)]
    pub value_size: usize,

    /// Write every key once before measuring, so that reads hit (a 404 then counts as an error).
    #[arg(long)]
    pub prefill: bool,

    /// Read quorum sent as the `r` query parameter of every GET (default: the cluster's).
    #[arg(long = "r", value_name = "R")]
    pub r: Option<u32>,

    /// Write quorum sent as the `w` query parameter of every PUT (default: the cluster's).
    #[arg(long = "w", value_name = "W")]
    pub w: Option<u32>,

    /// Seed of the key, operation and value choices [default: from the clock; printed in the report].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Give up on a request after this many milliseconds (counted as a transport timeout).
    #[arg(long, value_name = "MS", default_value_t = 5_000)]
    pub timeout_ms: u64,

    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// When a run stops: at the deadline, after the request count, or at whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stop {
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
}

/// A validated benchmark: what the driver executes.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Base URLs, `http://host:port[/prefix]`, no trailing slash.
    pub nodes: Vec<String>,
    pub clients: usize,
    pub stop: Stop,
    pub read_ratio: f64,
    pub keys: KeySpace,
    pub value_size: usize,
    pub prefill: bool,
    pub r: Option<u32>,
    pub w: Option<u32>,
    pub seed: u64,
    pub timeout: Duration,
}

/// `BenchArgs` as a command of its own, for [`BenchArgs::try_parse_from`].
#[derive(clap::Parser)]
#[command(name = "bench")]
struct Standalone {
    #[command(flatten)]
    args: BenchArgs,
}

impl BenchArgs {
    /// Parses arguments given as strings (the first is the program name), for tests and for
    /// embedders that do not go through the node's CLI.
    pub fn try_parse_from<I, T>(argv: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        <Standalone as clap::Parser>::try_parse_from(argv).map(|s| s.args)
    }

    /// Checks every argument and resolves the defaults that depend on others.
    pub(crate) fn plan(&self) -> Result<Plan, BenchError> {
        positive("clients", self.clients as u64)?;
        positive("keys", self.keys)?;
        positive("timeout-ms", self.timeout_ms)?;
        if let Some(n) = self.requests {
            positive("requests", n)?;
        }
        for (flag, q) in [("r", self.r), ("w", self.w)] {
            if let Some(q) = q {
                positive(flag, u64::from(q))?;
            }
        }
        if !(0.0..=1.0).contains(&self.read_ratio) {
            return Err(BenchError::ReadRatio {
                got: self.read_ratio,
            });
        }
        if self.value_size > MAX_VALUE_SIZE {
            return Err(BenchError::ValueSize {
                got: self.value_size,
                max: MAX_VALUE_SIZE,
            });
        }
        let duration = match (self.duration, self.requests) {
            (Some(secs), _) => Some(
                Duration::try_from_secs_f64(secs)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or(BenchError::Duration { got: secs })?,
            ),
            (None, Some(_)) => None,
            (None, None) => Some(Duration::from_secs_f64(DEFAULT_DURATION_SECS)),
        };
        let nodes = self
            .urls
            .iter()
            .filter(|u| !u.trim().is_empty())
            .map(|u| base_url(u))
            .collect::<Result<Vec<_>, _>>()?;
        if nodes.is_empty() {
            return Err(BenchError::Url {
                url: self.urls.join(","),
                reason: "at least one node URL is needed",
            });
        }
        Ok(Plan {
            nodes,
            clients: self.clients,
            stop: Stop {
                duration,
                requests: self.requests,
            },
            read_ratio: self.read_ratio,
            keys: KeySpace::new(self.keys),
            value_size: self.value_size,
            prefill: self.prefill,
            r: self.r,
            w: self.w,
            seed: self.seed.unwrap_or_else(clock_seed),
            timeout: Duration::from_millis(self.timeout_ms),
        })
    }
}

fn positive(flag: &'static str, n: u64) -> Result<(), BenchError> {
    if n == 0 {
        Err(BenchError::Zero { flag })
    } else {
        Ok(())
    }
}

/// Normalises one `--url`: `http` only (the tool has no TLS), a host, no query, no trailing slash.
fn base_url(raw: &str) -> Result<String, BenchError> {
    let raw = raw.trim();
    let bad = |reason| BenchError::Url {
        url: raw.to_owned(),
        reason,
    };
    let uri: http::Uri = raw
        .parse()
        .map_err(|_| bad("not a URL (expected http://host:port)"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(bad(
                "https is not supported (the load tool speaks plain HTTP)",
            ));
        }
        _ => {
            return Err(bad(
                "the scheme must be http:// (e.g. http://127.0.0.1:7777)",
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("the URL has no host"));
    }
    if uri.query().is_some() {
        return Err(bad("a base URL takes no query string"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// A seed for runs without `--seed`: different every run, and printed so a run can be repeated.
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> BenchArgs {
        BenchArgs::try_parse_from(std::iter::once("bench").chain(argv.iter().copied()))
            .expect("arguments parse")
    }

    fn plan(argv: &[&str]) -> Result<Plan, BenchError> {
        parse(argv).plan()
    }

    #[test]
    fn the_clap_definition_is_consistent() {
        <Standalone as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn defaults_target_the_dev_cluster_for_ten_seconds() {
        let plan = plan(&[]).unwrap();
        assert_eq!(
            plan.nodes,
            [
                "http://127.0.0.1:7777",
                "http://127.0.0.1:8888",
                "http://127.0.0.1:9999"
            ]
        );
        assert_eq!(plan.clients, 64);
        assert_eq!(
            plan.stop,
            Stop {
                duration: Some(Duration::from_secs(10)),
                requests: None
            }
        );
        assert_eq!(plan.read_ratio, 0.5);
        assert_eq!(plan.keys.count(), 10_000);
        assert_eq!(plan.value_size, 100);
        assert!(!plan.prefill);
        assert_eq!((plan.r, plan.w), (None, None));
        assert_eq!(plan.timeout, Duration::from_secs(5));
    }

    #[test]
    fn urls_repeat_or_comma_separate_and_lose_trailing_slashes() {
        let plan = plan(&["--url", "http://a:1/,http://b:2", "--url", "http://c:3/kv/"]).unwrap();
        assert_eq!(plan.nodes, ["http://a:1", "http://b:2", "http://c:3/kv"]);
    }

    #[test]
    fn requests_alone_run_without_a_deadline_and_both_combine() {
        let only = plan(&["--requests", "500"]).unwrap();
        assert_eq!(
            only.stop,
            Stop {
                duration: None,
                requests: Some(500)
            }
        );
        let both = plan(&["--requests", "500", "--duration", "1.5"]).unwrap();
        assert_eq!(
            both.stop,
            Stop {
                duration: Some(Duration::from_millis(1500)),
                requests: Some(500)
            }
        );
    }

    #[test]
    fn seed_and_quorum_overrides_are_kept() {
        let plan = plan(&["--seed", "7", "--r", "1", "--w", "3", "--prefill"]).unwrap();
        assert_eq!(plan.seed, 7);
        assert_eq!((plan.r, plan.w), (Some(1), Some(3)));
        assert!(plan.prefill);
    }

    #[test]
    fn read_ratio_outside_zero_to_one_is_refused() {
        for bad in ["1.01", "-0.1", "NaN"] {
            let err = plan(&[&format!("--read-ratio={bad}")]).unwrap_err();
            assert!(matches!(err, BenchError::ReadRatio { .. }), "{bad}: {err}");
        }
        for good in ["0", "1", "0.9"] {
            plan(&["--read-ratio", good]).unwrap();
        }
    }

    #[test]
    fn zero_counts_are_refused_by_name() {
        for (flag, value) in [
            ("clients", "0"),
            ("keys", "0"),
            ("requests", "0"),
            ("r", "0"),
            ("w", "0"),
            ("timeout-ms", "0"),
        ] {
            let err = plan(&[&format!("--{flag}"), value]).unwrap_err();
            assert!(
                matches!(err, BenchError::Zero { flag: f } if f == flag),
                "{flag}: {err}"
            );
        }
    }

    #[test]
    fn durations_must_be_positive_and_finite() {
        for bad in ["0", "-1", "inf", "NaN"] {
            let err = plan(&[&format!("--duration={bad}")]).unwrap_err();
            assert!(matches!(err, BenchError::Duration { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn oversized_values_are_refused() {
        let too_big = (MAX_VALUE_SIZE + 1).to_string();
        let err = plan(&["--value-size", &too_big]).unwrap_err();
        assert!(matches!(err, BenchError::ValueSize { .. }));
        plan(&["--value-size", "0"]).unwrap();
    }

    #[test]
    fn unusable_urls_are_refused_with_a_reason() {
        for bad in [
            "https://a:1",
            "ftp://a:1",
            "127.0.0.1:7777",
            "http://a:1/?x=1",
            "not a url",
            ",",
        ] {
            let err = plan(&["--url", bad]).unwrap_err();
            assert!(matches!(err, BenchError::Url { .. }), "{bad}: {err}");
        }
    }
}
