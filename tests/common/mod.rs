//! Shared harness for the black-box cluster tests: real `ringkv serve` processes on real sockets.
//!
//! - [`Node`] is one child process: started with `--port 0`, a data dir of its own and `--set` overrides
//!   (or any [`Launch`]: own node id, environment, `HOST`/`PORT`); ready once it printed `listening on <URL>` on stdout (read with a deadline). It can be killed with
//!   SIGKILL, stopped with SIGTERM, and restarted on the same port with the same data dir and node id.
//!   Its stderr (the logs) goes to a file beside the data dir; the tail is printed when a test panics.
//! - [`Cluster`] owns the nodes and the temp dir; [`ClusterBuilder`] starts N nodes, joins them with
//!   `POST /peers` and waits until every node's `GET /peers` lists all the others.
//! - [`Http`] is a blocking client returning [`Resp`] (status, headers, body, read whole); helpers
//!   build `/items/{key}` URLs with the key percent-encoded as one path segment.
//! - [`wait_until`] polls a condition until a deadline: tests never sleep a fixed time.
//!
//! Invariants: every child is killed and reaped when its `Node` drops (also on panic), and the temp
//! dir goes after the nodes (field order of `Cluster`). Children never inherit `RINGKV_*`, `PORT` or
//! `HOST` from the test environment and run in the temp dir, so no stray `config.toml` is read.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// Deadline for conditions that depend on the machine's load (startup, membership, expiry).
/// Generous on purpose: the machine may have 2 busy cores.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// How often [`wait_until`] re-checks its condition.
const POLL: Duration = Duration::from_millis(50);

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

/// Polls `check` until it returns `Some`, or panics naming `what` after `deadline`.
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

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// One HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Resp {
    /// The body parsed as JSON; panics (showing the body) if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {:?}",
                self.status, self.body
            )
        })
    }

    /// The `X-Context` header, if any.
    pub fn context(&self) -> Option<String> {
        self.header("x-context")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Asserts the status and returns `self`, showing the body on mismatch.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    /// Asserts this is an error of `status` with a JSON body `{"detail": "<non-empty string>"}`
    /// and returns the detail.
    #[track_caller]
    pub fn expect_error(&self, status: u16) -> String {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.error_detail()
    }

    /// Asserts the body is `{"detail": "<non-empty string>"}` (JSON content type) and returns the detail.
    #[track_caller]
    pub fn error_detail(&self) -> String {
        self.check_error_body()
            .unwrap_or_else(|why| panic!("{why}"))
    }

    /// `Ok(detail)` if the body is `{"detail": "<non-empty string>"}` with a JSON content type.
    pub fn check_error_body(&self) -> Result<String, String> {
        let ct = self.header("content-type").unwrap_or_default();
        if !ct.starts_with("application/json") {
            return Err(format!(
                "status {} error has content-type {ct:?}, not JSON; body: {:.200}",
                self.status, self.body
            ));
        }
        let body: Value = serde_json::from_str(&self.body)
            .map_err(|e| format!("status {} error body is not JSON ({e})", self.status))?;
        match body.get("detail").and_then(Value::as_str) {
            Some(detail) if !detail.trim().is_empty() => Ok(detail.to_owned()),
            _ => Err(format!(
                "status {} error body has no non-empty string \"detail\": {body}",
                self.status
            )),
        }
    }
}

/// A blocking HTTP client shared by a test (cheap to clone: pooled connections inside).
#[derive(Clone)]
pub struct Http {
    client: reqwest::blocking::Client,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Self {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .expect("building the HTTP client");
        Self { client }
    }

    /// Sends one request; `Err` on transport failure (refused, reset, timeout).
    pub fn try_send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Resp, reqwest::Error> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut req = self.client.request(method, url);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send()?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text()?;
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    /// Sends one request with a raw body; panics on transport failure.
    #[track_caller]
    pub fn raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        self.try_send(method, url, headers, body)
            .unwrap_or_else(|e| panic!("{method} {url} failed: {e}"))
    }

    /// Sends one request with a JSON body (content type set); panics on transport failure.
    #[track_caller]
    pub fn json(&self, method: &str, url: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.raw(method, url, &all, Some(body.to_string().into_bytes()))
    }

    #[track_caller]
    pub fn get(&self, url: &str) -> Resp {
        self.raw("GET", url, &[], None)
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------------

/// How a node is started, kept to restart it the same way.
#[derive(Clone, Debug)]
pub struct Launch {
    /// `--node-id`; `None` lets the node choose (its public URL's `host:port`, then persisted).
    pub node_id: Option<String>,
    /// `--set key=value` overrides, in order.
    pub sets: Vec<String>,
    /// Extra environment variables for the child.
    pub env: Vec<(String, String)>,
    /// Extra flags after `serve`.
    pub args: Vec<String>,
    /// Give host and port through `HOST`/`PORT` instead of `--host`/`--port`.
    pub address_by_env: bool,
    /// The port of the first start; 0 = any free port.
    pub port: u16,
}

impl Launch {
    /// `--node-id id` plus `sets`; host and port by flags.
    pub fn with_id(id: &str, sets: &[String]) -> Self {
        Launch {
            node_id: Some(id.to_owned()),
            sets: sets.to_vec(),
            env: Vec::new(),
            args: Vec::new(),
            address_by_env: false,
            port: 0,
        }
    }
}

/// One `ringkv serve` child process and what it takes to restart it identically.
pub struct Node {
    /// The `--node-id` given, or the directory name when the node chose its own id.
    pub id: String,
    /// The public URL printed on the `listening on` line, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    pub http: Http,
    /// 0 until the first start; then the bound port, reused by restarts.
    port: u16,
    data_dir: PathBuf,
    log_path: PathBuf,
    cwd: PathBuf,
    launch: Launch,
    child: Option<Child>,
}

impl Node {
    /// Starts a node in `root/<id>` with `--node-id id`, `--port 0` and the `key=value` overrides.
    pub fn start(root: &Path, id: &str, sets: &[String], http: Http) -> Node {
        Node::start_with(root, id, Launch::with_id(id, sets), http)
    }

    /// Starts a node in `root/<name>` (its working dir, holding `data/` and `node.log`) as `launch`
    /// says, on any free port.
    pub fn start_with(root: &Path, name: &str, launch: Launch, http: Http) -> Node {
        let cwd = root.join(name);
        std::fs::create_dir_all(&cwd).expect("creating the node dir");
        let mut node = Node {
            id: launch.node_id.clone().unwrap_or_else(|| name.to_owned()),
            url: String::new(),
            http,
            port: launch.port,
            data_dir: cwd.join("data"),
            log_path: cwd.join("node.log"),
            cwd,
            launch,
            child: None,
        };
        node.spawn_until_listening();
        node
    }

    /// The node's working directory (a `config.toml` there is read by default).
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// The URL of `path` on this node (`path` starts with `/`).
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The URL of `/items/{key}` plus `query` (e.g. `"?w=1"` or `""`).
    pub fn item(&self, key: &str, query: &str) -> String {
        format!("{}/items/{}{query}", self.url, encode(key))
    }

    /// `PUT /items/{key}` with body `{"value": V}`.
    #[track_caller]
    pub fn put(&self, key: &str, value: Value) -> Resp {
        self.http.json(
            "PUT",
            &self.item(key, ""),
            &[],
            &serde_json::json!({ "value": value }),
        )
    }

    /// `PUT /items/{key}` with body `{"value": V}` and extra headers (`X-Context`, `If-Match`, ...).
    #[track_caller]
    pub fn put_with(&self, key: &str, value: &Value, headers: &[(&str, &str)]) -> Resp {
        self.http.json(
            "PUT",
            &self.item(key, ""),
            headers,
            &serde_json::json!({ "value": value }),
        )
    }

    /// `GET /items/{key}`.
    #[track_caller]
    pub fn get(&self, key: &str) -> Resp {
        self.http.get(&self.item(key, ""))
    }

    /// `DELETE /items/{key}` without a context.
    #[track_caller]
    pub fn delete(&self, key: &str) -> Resp {
        self.http.raw("DELETE", &self.item(key, ""), &[], None)
    }

    /// `GET /items/{key}` must answer 200 and exactly `{"value": V}`; returns V.
    #[track_caller]
    pub fn get_value(&self, key: &str) -> Value {
        let resp = self.get(key);
        assert_eq!(
            resp.status, 200,
            "GET {key:?} on {}: body {}",
            self.id, resp.body
        );
        let body = resp.json();
        let obj = body.as_object().expect("GET body is an object");
        assert_eq!(
            obj.len(),
            1,
            "GET body must be exactly {{\"value\": V}}, got {body}"
        );
        obj["value"].clone()
    }

    /// The keys of the first page (limit 1000) of `GET /items?prefix=P`.
    #[track_caller]
    pub fn list_keys(&self, prefix: &str) -> Vec<String> {
        let url = self.at(&format!("/items?prefix={}&limit=1000", encode(prefix)));
        let body = self.http.get(&url).expect(200).json();
        body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no items array in {body}"))
            .iter()
            .map(|item| {
                item["key"]
                    .as_str()
                    .expect("item key is a string")
                    .to_owned()
            })
            .collect()
    }

    /// The OS process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL, then reap. Acknowledged writes must survive this (storage sync `always`).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait (with a deadline) for the exit status. Panics if it does not exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("terminate: node is not running");
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("running kill -TERM");
        assert!(sent.success(), "kill -TERM {} failed", child.id());
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the node") {
                return status;
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "node {} did not exit within {DEADLINE:?} of SIGTERM\n{}",
                    self.id,
                    self.log_tail(40)
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Starts the node again on the same port, with the same data dir, node id and overrides.
    pub fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "restart: node {} is still running",
            self.id
        );
        self.spawn_until_listening();
    }

    /// Starts the node again like [`Node::restart`], but on a new free port.
    pub fn restart_on_new_port(&mut self) {
        assert!(
            self.child.is_none(),
            "restart: node {} is still running",
            self.id
        );
        self.port = 0;
        self.spawn_until_listening();
    }

    /// The last `lines` lines of the node's log (stderr), for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log_path) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
            let _ = f.read_to_string(&mut text);
        }
        let tail: Vec<&str> = text.lines().rev().take(lines).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "--- last log lines of node {} ---\n{}",
            self.id,
            tail.join("\n")
        )
    }

    /// Spawns the process, retrying while the port is not yet free again (restart after a kill),
    /// until it prints `listening on <URL>`.
    fn spawn_until_listening(&mut self) {
        let start = Instant::now();
        loop {
            match self.spawn_once() {
                Ok(url) => {
                    self.url = url;
                    if self.port == 0 {
                        self.port = port_of(&self.url);
                    }
                    return;
                }
                Err(why) if self.port != 0 && start.elapsed() < DEADLINE => {
                    // A restart can race with the old socket's release; try again.
                    let _ = why;
                    thread::sleep(Duration::from_millis(200));
                }
                Err(why) => panic!(
                    "node {} did not become ready: {why}\n{}",
                    self.id,
                    self.log_tail(60)
                ),
            }
        }
    }

    fn spawn_once(&mut self) -> Result<String, String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| format!("opening the log file: {e}"))?;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringkv"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("RINGKV_") || name == "PORT" || name == "HOST" {
                cmd.env_remove(&name);
            }
        }
        let launch = &self.launch;
        cmd.arg("serve");
        if launch.address_by_env {
            cmd.env("HOST", "127.0.0.1")
                .env("PORT", self.port.to_string());
        } else {
            cmd.args(["--host", "127.0.0.1"])
                .args(["--port", &self.port.to_string()]);
        }
        cmd.arg("--data-dir").arg(&self.data_dir);
        if let Some(id) = &launch.node_id {
            cmd.args(["--node-id", id]);
        }
        for set in &launch.sets {
            cmd.args(["--set", set]);
        }
        cmd.args(&launch.args);
        cmd.envs(launch.env.iter().map(|(k, v)| (k, v)));
        let filter = std::env::var("RINGKV_TEST_LOG").unwrap_or_else(|_| "info".to_owned());
        cmd.env("RUST_LOG", filter)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = cmd.spawn().map_err(|e| format!("spawning ringkv: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let echo = OpenOptions::new().append(true).open(&self.log_path).ok();
        thread::spawn(move || forward_stdout(stdout, tx, echo));
        match rx.recv_timeout(DEADLINE) {
            Ok(url) => {
                self.child = Some(child);
                Ok(url)
            }
            Err(e) => {
                let why = match e {
                    mpsc::RecvTimeoutError::Timeout => {
                        format!("no `listening on` line within {DEADLINE:?}")
                    }
                    mpsc::RecvTimeoutError::Disconnected => {
                        "stdout closed before a `listening on` line".to_owned()
                    }
                };
                let _ = child.kill();
                let status = child.wait().ok();
                Err(format!("{why}; exit status {status:?}"))
            }
        }
    }
}

/// Reads the child's stdout: sends the URL of the first `listening on <URL>` line, copies every
/// line to the log file, and keeps draining until EOF so the child never blocks on a full pipe.
fn forward_stdout(stdout: impl Read, tx: mpsc::Sender<String>, mut echo: Option<File>) {
    let mut sent = false;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(f) = echo.as_mut() {
            let _ = writeln!(f, "[stdout] {line}");
        }
        if !sent && let Some(url) = line.trim().strip_prefix("listening on ") {
            sent = true;
            let _ = tx.send(url.trim().trim_end_matches('/').to_owned());
        }
    }
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in the listening URL {url:?}"))
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// Write load
// ---------------------------------------------------------------------------------------------

/// Runs `writers` client threads PUTting fresh keys (`w{t}-{i}`, value `t << 32 | i`) to the nodes
/// at `urls` round-robin; once `min_acks` writes were acknowledged, calls `interrupt` (e.g. kill a
/// node), stops the writers, and returns what `interrupt` returned and every acknowledged
/// `(key, value)`. Transport errors and non-2xx answers are not acknowledgements.
pub fn write_load<T>(
    http: &Http,
    urls: &[String],
    writers: usize,
    min_acks: usize,
    interrupt: impl FnOnce() -> T,
) -> (T, Vec<(String, u64)>) {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let stop = AtomicBool::new(false);
    let count = AtomicUsize::new(0);
    let acked: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());
    let out = thread::scope(|scope| {
        for t in 0..writers {
            let (stop, count, acked) = (&stop, &count, &acked);
            scope.spawn(move || {
                for i in 0_u64.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("w{t}-{i:06}");
                    let value = ((t as u64) << 32) | i;
                    let url = &urls[(t + i as usize) % urls.len()];
                    let body = serde_json::json!({ "value": value })
                        .to_string()
                        .into_bytes();
                    let headers = [("content-type", "application/json")];
                    let item = format!("{url}/items/{key}");
                    if let Ok(resp) = http.try_send("PUT", &item, &headers, Some(body))
                        && (200..300).contains(&resp.status)
                    {
                        acked.lock().expect("acked lock").push((key, value));
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(
                &format!("{min_acks} acknowledged writes"),
                DEADLINE,
                || match count.load(Ordering::Relaxed) {
                    n if n >= min_acks => Ok(()),
                    n => Err(format!("{n} acknowledged")),
                },
            )
        }));
        let out = waited.map(|()| interrupt());
        stop.store(true, Ordering::Relaxed);
        out
    });
    let out = out.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    (out, acked.into_inner().expect("acked lock"))
}

/// The acknowledged writes that `node` does not answer with their value (at most `show` listed).
pub fn missing_writes(node: &Node, acked: &[(String, u64)], query: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for (key, value) in acked {
        let resp = node.http.get(&node.item(key, query));
        if resp.status != 200 || resp.json() != serde_json::json!({ "value": value }) {
            missing.push(format!("{key}: {} {}", resp.status, resp.body));
        }
    }
    missing
}

// ---------------------------------------------------------------------------------------------
// Other processes
// ---------------------------------------------------------------------------------------------

/// Any `ringkv` child process whose stdout lines are collected (e.g. `ringkv dev`); killed on drop.
pub struct Proc {
    child: Option<Child>,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Proc {
    /// Spawns `ringkv <args>` in `cwd`, stderr to `cwd/stderr.log`, with a clean `RINGKV_*` env.
    pub fn spawn(cwd: &Path, args: &[&str]) -> Proc {
        let log = File::create(cwd.join("stderr.log")).expect("creating the log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringkv"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("RINGKV_") || name == "PORT" || name == "HOST" {
                cmd.env_remove(&name);
            }
        }
        let mut child = cmd
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawning ringkv");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("lines lock").push(line);
            }
        });
        Proc {
            child: Some(child),
            lines,
        }
    }

    /// Every stdout line so far.
    pub fn stdout(&self) -> Vec<String> {
        self.lines.lock().expect("lines lock").clone()
    }

    /// Waits until some stdout line contains `needle`; returns that line.
    pub fn wait_for_line(&self, needle: &str) -> String {
        wait_until(
            &format!("stdout has a line with {needle:?}"),
            DEADLINE,
            || {
                let lines = self.stdout();
                lines
                    .iter()
                    .find(|l| l.contains(needle))
                    .cloned()
                    .ok_or_else(|| format!("{lines:?}"))
            },
        )
    }

    /// Sends `signal` (e.g. "INT", "TERM") and waits, with a deadline, for the exit status.
    pub fn signal_and_wait(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().expect("process already reaped");
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("running kill");
        assert!(sent.success(), "kill -{signal} failed");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("waiting") {
                return status;
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no exit within {DEADLINE:?} of SIG{signal}");
            }
            thread::sleep(POLL);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Clusters
// ---------------------------------------------------------------------------------------------

/// N nodes joined into one cluster, and the temp dir holding their data and logs.
pub struct Cluster {
    // Field order matters: nodes are killed before the directory is removed.
    pub nodes: Vec<Node>,
    pub http: Http,
    dir: tempfile::TempDir,
}

/// Starts clusters: `Cluster::builder(3).quorum(3, 2, 2).set("request_timeout_ms", 1500).start()`.
pub struct ClusterBuilder {
    size: usize,
    sets: Vec<String>,
    membership: Membership,
    /// Node ids are `{prefix}{index}`.
    prefix: String,
}

/// How the nodes of a cluster learn of each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    /// Each node starts alone on port 0; `POST /peers` on the first node joins the others.
    Join,
    /// Ports are reserved first; every node gets one `--membership-file` listing all of them
    /// (itself included, mixed `host:port` and URL lines, comments and blank lines).
    File,
    /// Ports are reserved first; node 0 gets the others' URLs with `--peers`, the others through
    /// `RINGKV_PEERS`.
    Peers,
}

/// `n` ports that were free a moment ago (all bound at once, then released).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

impl ClusterBuilder {
    /// Adds `--set key=value` to every node.
    pub fn set(mut self, key: &str, value: impl ToString) -> Self {
        self.sets.push(format!("{key}={}", value.to_string()));
        self
    }

    /// Sets `quorum.n`, `quorum.r`, `quorum.w`.
    pub fn quorum(self, n: u32, r: u32, w: u32) -> Self {
        self.set("quorum.n", n)
            .set("quorum.r", r)
            .set("quorum.w", w)
    }

    /// Starts the nodes, joins them with `POST /peers` on the first node, and waits until every
    /// node's `GET /peers` lists exactly all the others.
    pub fn start(mut self) -> Cluster {
        // Generous deadlines unless the test chose its own: a loaded 2-core machine must not turn
        // a slow answer into a 503. Dead nodes refuse connections, so failures stay fast.
        for (key, value) in [("request_timeout_ms", 10_000), ("rpc_timeout_ms", 5_000)] {
            if !self.sets.iter().any(|s| s.starts_with(&format!("{key}="))) {
                self.sets.insert(0, format!("{key}={value}"));
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("ringkv-test-")
            .tempdir()
            .expect("creating a temp dir");
        let http = Http::new();
        if self.membership != Membership::Join {
            let cluster = self.start_static(dir, http);
            cluster.wait_for_membership();
            return cluster;
        }
        let nodes: Vec<Node> = (0..self.size)
            .map(|i| {
                Node::start(
                    dir.path(),
                    &format!("{}{i}", self.prefix),
                    &self.sets,
                    http.clone(),
                )
            })
            .collect();
        let cluster = Cluster { nodes, http, dir };
        for other in &cluster.nodes[1..] {
            let resp = cluster.http.json(
                "POST",
                &cluster.nodes[0].at("/peers"),
                &[],
                &serde_json::json!({ "peer_url": other.url }),
            );
            assert_eq!(
                resp.status, 200,
                "POST /peers {} on {}: {}",
                other.url, cluster.nodes[0].url, resp.body
            );
        }
        cluster.wait_for_membership();
        cluster
    }

    /// Names the nodes `{prefix}0`, `{prefix}1`, ... instead of `node0`, ...
    pub fn id_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    /// Uses static membership: the nodes know each other's addresses from their start.
    pub fn membership(mut self, membership: Membership) -> Self {
        self.membership = membership;
        self
    }

    fn start_static(self, dir: tempfile::TempDir, http: Http) -> Cluster {
        let ports = free_ports(self.size);
        let urls: Vec<String> = ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let file = dir.path().join("cluster.membership");
        let mut text = String::from("# ringkv test cluster\n\n");
        for (i, port) in ports.iter().enumerate() {
            match i % 2 {
                0 => text.push_str(&format!("127.0.0.1:{port}\n")),
                _ => text.push_str(&format!("  http://127.0.0.1:{port}  \n\n")),
            }
        }
        std::fs::write(&file, text).expect("writing the membership file");
        let nodes = (0..self.size)
            .map(|i| {
                let id = format!("{}{i}", self.prefix);
                let mut launch = Launch::with_id(&id, &self.sets);
                launch.port = ports[i];
                let others: Vec<&str> = (0..self.size)
                    .filter(|&j| j != i)
                    .map(|j| urls[j].as_str())
                    .collect();
                match (self.membership, i) {
                    (Membership::File, _) => {
                        launch.args = vec!["--membership-file".into(), file.display().to_string()];
                    }
                    (_, 0) => launch.args = vec!["--peers".into(), others.join(",")],
                    _ => launch.env = vec![("RINGKV_PEERS".into(), others.join(","))],
                }
                Node::start_with(dir.path(), &id, launch, http.clone())
            })
            .collect();
        Cluster { nodes, http, dir }
    }
}

impl Cluster {
    pub fn builder(size: usize) -> ClusterBuilder {
        assert!(size >= 1);
        ClusterBuilder {
            size,
            sets: Vec::new(),
            membership: Membership::Join,
            prefix: "node".to_owned(),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url.clone()).collect()
    }

    /// `kill -9` every node.
    pub fn kill_all(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }

    /// Restarts every stopped node (same port, data dir and id) and waits for the membership.
    pub fn restart_all(&mut self) {
        for node in self.nodes.iter_mut().filter(|n| !n.is_running()) {
            node.restart();
        }
        self.wait_for_membership();
    }

    /// Waits until every running node's `GET /peers` lists exactly the other nodes' URLs.
    pub fn wait_for_membership(&self) {
        let nodes: Vec<&Node> = self.nodes.iter().collect();
        wait_for_peers(&nodes);
    }
}

/// Waits until every running node of `nodes` lists exactly the others' URLs in `GET /peers`.
pub fn wait_for_peers(nodes: &[&Node]) {
    for node in nodes.iter().filter(|n| n.is_running()) {
        let mut want: Vec<String> = nodes
            .iter()
            .filter(|n| n.id != node.id)
            .map(|n| n.url.clone())
            .collect();
        want.sort();
        wait_until(
            &format!("{} lists all members in GET /peers", node.id),
            DEADLINE,
            || {
                let got = peer_urls(&node.http, &node.url)?;
                if got == want {
                    Ok(())
                } else {
                    Err(format!("peers {got:?}, want {want:?}"))
                }
            },
        );
    }
}

/// The sorted `peers` list of `GET {url}/peers`, without trailing slashes.
pub fn peer_urls(http: &Http, url: &str) -> Result<Vec<String>, String> {
    let resp = http
        .try_send("GET", &format!("{url}/peers"), &[], None)
        .map_err(|e| e.to_string())?;
    if resp.status != 200 {
        return Err(format!("status {}: {}", resp.status, resp.body));
    }
    let body: Value = serde_json::from_str(&resp.body).map_err(|e| e.to_string())?;
    let peers = body
        .get("peers")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no peers array in {body}"))?;
    let mut urls: Vec<String> = peers
        .iter()
        .map(|p| {
            p.as_str()
                .map(|s| s.trim_end_matches('/').to_owned())
                .ok_or_else(|| format!("peer {p} is not a string"))
        })
        .collect::<Result<_, _>>()?;
    urls.sort();
    Ok(urls)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if thread::panicking() {
            for node in &self.nodes {
                eprintln!("{}", node.log_tail(30));
            }
        }
        for node in &mut self.nodes {
            node.kill();
        }
    }
}
