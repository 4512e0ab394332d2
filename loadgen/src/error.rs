//! The crate's one error type: everything that stops a benchmark before or during its run.
//!
//! Failed requests are not errors of the tool: they are counted in the report (by HTTP status or
//! transport failure). A `BenchError` means the run itself could not be carried out as asked.

/// Why a benchmark could not run (bad arguments, an unusable URL, a prefill that did not complete).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// `--read-ratio` outside `0.0..=1.0` (or not a number).
    #[error("--read-ratio must be between 0.0 and 1.0, got {got}")]
    ReadRatio {
        /// The value given.
        got: f64,
    },
    /// A count that must be positive was zero (`--clients`, `--keys`, `--requests`, `--r`, `--w`, ...).
    #[error("--{flag} must be at least 1")]
    Zero {
        /// The flag's name, without dashes.
        flag: &'static str,
    },
    /// `--duration` was not a positive, finite number of seconds.
    #[error("--duration must be a positive number of seconds, got {got}")]
    Duration {
        /// The value given.
        got: f64,
    },
    /// `--value-size` above what the tool will generate.
    #[error("--value-size {got} is over the limit of {max} bytes")]
    ValueSize {
        /// The value given.
        got: usize,
        /// The largest accepted value.
        max: usize,
    },
    /// A `--url` that is not a plain `http://host:port[/prefix]` base URL.
    #[error("--url {url:?} is not usable: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it, in words a user can act on.
        reason: &'static str,
    },
    /// A request could not be built (a key or URL that does not form a valid URI).
    #[error("cannot build a request for {uri:?}: {source}")]
    Request {
        /// The URI the request was for.
        uri: String,
        /// What `http` refused.
        #[source]
        source: http::Error,
    },
    /// `--prefill` could not write every key, so reads would measure misses instead of hits.
    #[error(
        "prefill failed: key {key} could not be written in {attempts} attempts (last failure: \
         {last}); {written} of {total} keys were written before the prefill stopped"
    )]
    Prefill {
        /// The first key that could not be written.
        key: String,
        /// Attempts made for it.
        attempts: u32,
        /// Its last failure, e.g. `HTTP 503` or `transport: connect`.
        last: String,
        /// Keys written before the prefill stopped.
        written: u64,
        /// Keys in the key space.
        total: u64,
    },
    /// A client task panicked or was cancelled (a bug in the tool).
    #[error("a client task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
