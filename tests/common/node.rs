//! One `ringkv serve` child process ([`Node`]) started as a [`Launch`] says: ready once it printed
//! `listening on <URL>` (read with a deadline); killed with SIGKILL, stopped with SIGTERM, restarted
//! on the same port (or a new one) with the same data dir, node id and overrides; paused (SIGSTOP)
//! and resumed (SIGCONT). Its stderr and stdout go to `node.log` beside its data dir. Invariant:
//! the child is resumed if paused, then killed and reaped on drop.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{DEADLINE, Http, Resp, clean_env, encode, send_signal, signal_and_reap};

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
    /// Stopped with SIGSTOP and not resumed yet.
    paused: bool,
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
            paused: false,
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

    /// The `ringkv_storage_log_bytes` gauge of `GET /metrics`: the node's commit log grows by one
    /// record per key version it stores, so a change shows that this node stored a write.
    #[track_caller]
    pub fn storage_log_bytes(&self) -> u64 {
        let text = self.http.get(&self.at("/metrics")).expect(200).body;
        text.lines()
            .find_map(|l| l.strip_prefix("ringkv_storage_log_bytes "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v as u64)
            .unwrap_or_else(|| panic!("no ringkv_storage_log_bytes in {}'s /metrics", self.id))
    }

    /// The OS process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGSTOP: the process keeps its sockets, so the kernel still accepts connections to it, but
    /// it answers nothing until [`Node::resume`] (a hung replica, not a dead one).
    pub fn pause(&mut self) {
        let pid = self.pid().expect("pause: node is not running");
        send_signal(pid, "STOP").unwrap_or_else(|why| panic!("node {}: {why}", self.id));
        self.paused = true;
    }

    /// SIGCONT after [`Node::pause`]: the node goes on with whatever it had received.
    pub fn resume(&mut self) {
        if let (true, Some(pid)) = (self.paused, self.pid()) {
            send_signal(pid, "CONT").unwrap_or_else(|why| panic!("node {}: {why}", self.id));
        }
        self.paused = false;
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// SIGKILL, then reap. Acknowledged writes must survive this (storage sync `always`).
    /// A paused node is resumed first, so no stopped process is ever left behind.
    pub fn kill(&mut self) {
        if self.paused {
            let _ = self.pid().map(|pid| send_signal(pid, "CONT"));
            self.paused = false;
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait (with a deadline) for the exit status. Panics if it does not exit.
    /// A paused node is resumed first (a stopped process does not act on SIGTERM).
    pub fn terminate(&mut self) -> ExitStatus {
        self.resume();
        let mut child = self.child.take().expect("terminate: node is not running");
        signal_and_reap(&mut child, "TERM")
            .unwrap_or_else(|why| panic!("node {}: {why}\n{}", self.id, self.log_tail(40)))
    }

    /// Wipes the (stopped) node's data dir and starts it afresh on the same port with no pinned
    /// id, so it chooses a new one: a new member on the old address. Returns the new id.
    pub fn restart_fresh(&mut self) -> String {
        assert!(
            self.child.is_none(),
            "restart_fresh: node {} is running",
            self.id
        );
        let _ = std::fs::remove_dir_all(&self.data_dir);
        self.launch.node_id = None;
        self.spawn_until_listening();
        let health = self.http.get(&self.at("/healthcheck")).expect(200).json();
        self.id = health["node_id"].as_str().expect("node_id").to_owned();
        self.id.clone()
    }

    /// Wipes the (stopped) node's data dir and starts it again with the same node id, port and
    /// overrides: a replica that lost its disk.
    pub fn restart_wiped(&mut self) {
        assert!(
            self.child.is_none(),
            "restart_wiped: node {} is running",
            self.id
        );
        let _ = std::fs::remove_dir_all(&self.data_dir);
        self.spawn_until_listening();
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

    /// Starts the (stopped) node again like [`Node::restart`] with one more environment
    /// variable (a test-only fault hook, say), kept for later restarts.
    pub fn restart_with_env(&mut self, name: &str, value: &str) {
        self.launch.env.push((name.to_owned(), value.to_owned()));
        self.restart();
    }

    /// Whether the process has exited on its own (a fault hook fired), reaping it if so.
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(Some(_))) => {
                self.child = None;
                true
            }
            Some(_) => false,
            None => true,
        }
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
        clean_env(&mut cmd);
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
