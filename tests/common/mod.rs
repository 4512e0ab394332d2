//! Shared harness for the black-box cluster tests: real `ringkv serve` processes on real sockets.
//!
//! - `node`: [`Node`], one child process started with `--port 0`, a data dir of its own and `--set`
//!   overrides (or any [`Launch`]); killed (SIGKILL), stopped (SIGTERM), paused (SIGSTOP: a hung
//!   node that accepts connections and answers nothing) and resumed, restarted identically.
//! - `cluster`: [`Cluster`] owns the nodes and the temp dir; [`ClusterBuilder`] starts N nodes, joins
//!   them and waits until every node's `GET /peers` lists all the others.
//! - `http`: [`Http`], a blocking client returning [`Resp`] (status, headers, body, read whole).
//! - `load`: [`write_load`], client threads writing until something happens to the nodes.
//! - `process`: [`Proc`], any other `ringkv` process such as `ringkv dev`.
//! - here: [`wait_until`] polls a condition until a deadline (tests never sleep a fixed time), and
//!   [`encode`] percent-encodes a key as one path segment.
//!
//! Invariants: every child is resumed if paused, then killed and reaped when its `Node` drops (also
//! on panic), and the temp
//! dir goes after the nodes (field order of `Cluster`). Children never inherit `RINGKV_*`, `PORT` or
//! `HOST` from the test environment and run in the temp dir, so no stray `config.toml` is read.

#![allow(dead_code)] // each test binary uses a different part of the harness

mod cluster;
mod http;
mod load;
mod node;
mod process;

use std::process::{Child, Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

// Each test binary uses a different part of the harness.
#[allow(unused_imports)]
pub use {cluster::*, http::*, load::*, node::*, process::*};

/// Deadline for conditions that depend on the machine's load (startup, membership, expiry).
/// Generous on purpose: the machine may have 2 busy cores.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// How often [`wait_until`] re-checks its condition.
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// Everything but the RFC 3986 unreserved characters is percent-encoded in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes `key` as one path segment (`a b/c` -> `a%20b%2Fc`).
pub fn encode(key: &str) -> String {
    utf8_percent_encode(key, SEGMENT).to_string()
}

/// Polls `check` until it returns `Ok`, or panics naming `what` after `deadline`.
/// The last `Err` message of the condition is included in the panic, to show what was seen.
pub fn wait_until<T>(
    what: &str,
    deadline: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if start.elapsed() >= deadline => {
                panic!("timed out after {deadline:?} waiting until {what}; last seen: {last}")
            }
            Err(_) => thread::sleep(POLL),
        }
    }
}

/// Removes `RINGKV_*`, `PORT`, `HOST` and `N_COPY` of the test environment from a child's environment.
pub fn clean_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("RINGKV_") || ["PORT", "HOST", "N_COPY"].contains(&name.as_str()) {
            cmd.env_remove(&name);
        }
    }
}

/// Sends `signal` (`"TERM"`, `"STOP"`, `"CONT"`...) to process `pid` with `kill`.
fn send_signal(pid: u32, signal: &str) -> Result<(), String> {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .map_err(|e| format!("running kill: {e}"))?;
    if !sent.success() {
        return Err(format!("kill -{signal} {pid} failed"));
    }
    Ok(())
}

/// Sends `signal` (`"TERM"`, `"INT"`) to `child` with `kill`, then waits for its exit status with
/// [`DEADLINE`]; past it the child is killed and reaped, and the error says so.
fn signal_and_reap(child: &mut Child, signal: &str) -> Result<ExitStatus, String> {
    send_signal(child.id(), signal)?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("waiting: {e}"))? {
            return Ok(status);
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no exit within {DEADLINE:?} of SIG{signal}"));
        }
        thread::sleep(POLL);
    }
}
