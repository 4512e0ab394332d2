//! Local nodes: the nodes `ringkv server start` runs in the background on this machine, and how
//! the other `server` commands find them again.
//!
//! Layout: a home directory (`--home`, env `RINGKV_HOME`, default `./data`) holds one directory
//! per node, which is that node's data dir (`<home>/<port>` with `--port`, else
//! `<home>/node-<n>`; or any `--data-dir`). Beside the node's own files it holds:
//!
//! ```text
//! ringkv.pid   the pid of the running `ringkv serve`, written when it is spawned
//! node.json    id, URL, host, port, working dir and --set overrides: enough to restart it
//! stdout.log   the node's stdout (its `listening on <URL>` line)
//! node.log     the node's stderr (its logs), appended to across restarts
//! ```
//!
//! Invariants: a pid file counts only while that pid is alive, not a zombie, and (where /proc
//! can tell) a `ringkv serve` of this very directory, so a stale pid file after a crash or a
//! reboot never makes the CLI signal an unrelated process.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

const PID_FILE: &str = "ringkv.pid";
const RECORD_FILE: &str = "node.json";
const STDOUT_FILE: &str = "stdout.log";
pub const LOG_FILE: &str = "node.log";

/// How long a node may take to print `listening on` or to exit after a signal.
pub const DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// How a local node runs: what `server restart` needs to run it the same way again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub url: String,
    pub host: String,
    pub port: u16,
    /// The working directory it runs in (a `config.toml` there is read).
    pub cwd: PathBuf,
    /// `--set KEY=VALUE` overrides.
    pub sets: Vec<String>,
}

/// A node directory under the home (or given by path).
#[derive(Debug, Clone)]
pub struct LocalNode {
    /// Absolute.
    pub dir: PathBuf,
    /// `None` until the node first listened.
    pub record: Option<Record>,
}

impl LocalNode {
    pub fn open(dir: &Path) -> anyhow::Result<LocalNode> {
        let dir = std::path::absolute(dir)?;
        let record = match std::fs::read(dir.join(RECORD_FILE)) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is not a node record", dir.join(RECORD_FILE).display())
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).context(format!("reading {}", dir.display())),
        };
        Ok(LocalNode { dir, record })
    }

    /// The directory's name, e.g. `7777` or `node-2`.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The node id when known, else the directory's name.
    pub fn id(&self) -> String {
        self.record
            .as_ref()
            .map_or_else(|| self.name(), |r| r.id.clone())
    }

    /// The pid of this node's running process, if it runs.
    pub fn running(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.dir.join(PID_FILE)).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        (is_alive(pid) && runs_dir(pid, &self.dir)).then_some(pid)
    }

    pub fn save(&self, record: &Record) -> anyhow::Result<()> {
        crate::persist::write_json(&self.dir.join(RECORD_FILE), record)
    }

    pub fn forget_pid(&self) {
        let _ = std::fs::remove_file(self.dir.join(PID_FILE));
    }

    /// Whether `key` names this node: its id, directory name, port or URL.
    fn is(&self, key: &str) -> bool {
        let key = key.trim_end_matches('/');
        self.name() == key
            || self
                .record
                .as_ref()
                .is_some_and(|r| r.id == key || r.url == key || r.port.to_string() == key)
    }
}

/// Every node directory under `home`, sorted by name.
pub fn list(home: &Path) -> anyhow::Result<Vec<LocalNode>> {
    let entries = match std::fs::read_dir(home) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).context(format!("reading {}", home.display())),
    };
    let mut nodes = Vec::new();
    for entry in entries {
        let dir = entry?.path();
        if dir.join(RECORD_FILE).exists() || dir.join(PID_FILE).exists() {
            nodes.push(LocalNode::open(&dir)?);
        }
    }
    nodes.sort_by_key(LocalNode::name);
    Ok(nodes)
}

/// The URLs of the local nodes that run now.
pub fn running_urls(home: &Path) -> anyhow::Result<Vec<String>> {
    Ok(list(home)?
        .iter()
        .filter(|n| n.running().is_some())
        .filter_map(|n| n.record.as_ref().map(|r| r.url.clone()))
        .collect())
}

/// The local node `key` names (id, directory name, port, URL, or a node directory's path).
pub fn find(home: &Path, key: &str) -> anyhow::Result<LocalNode> {
    let path = Path::new(key);
    if path.join(RECORD_FILE).exists() {
        return LocalNode::open(path);
    }
    let mut found: Vec<LocalNode> = list(home)?.into_iter().filter(|n| n.is(key)).collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!(
            "no local node {key:?} under {} (see `ringkv server list`; --home or RINGKV_HOME \
             choose another home)",
            home.display()
        ),
        _ => bail!(
            "{key:?} names several local nodes ({}); use the directory name",
            found
                .iter()
                .map(LocalNode::name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A directory for a new node: `<home>/<port>` for a fixed port, else `<home>/node-<n>` with
/// the smallest unused n.
pub fn new_dir(home: &Path, port: u16) -> PathBuf {
    if port != 0 {
        return home.join(port.to_string());
    }
    (1..)
        .map(|n| home.join(format!("node-{n}")))
        .find(|d| !d.exists())
        .unwrap_or_else(|| home.join("node"))
}

/// True when `pid` exists and is not a zombie (an exited child nobody reaped yet).
fn is_alive(pid: i32) -> bool {
    if kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S ...`: the state follows the last `)` (comm may hold spaces or parens).
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => true,
    }
}

/// Whether `pid` runs with `dir` among its arguments (true where /proc cannot tell).
fn runs_dir(pid: i32, dir: &Path) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => {
            let dir = dir.as_os_str().as_encoded_bytes();
            cmdline.split(|b| *b == 0).any(|arg| arg == dir)
        }
        Err(_) => true,
    }
}

/// Sends `signal` to `pid`.
pub fn signal(pid: i32, signal: Signal) -> anyhow::Result<()> {
    kill(Pid::from_raw(pid), signal).with_context(|| format!("sending {signal} to pid {pid}"))
}

/// Waits until `pid` has exited, up to `deadline`.
pub async fn wait_exit(pid: i32, deadline: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while is_alive(pid) {
        if start.elapsed() > deadline {
            bail!("pid {pid} still runs {deadline:?} after the signal");
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// Runs `ringkv serve` for `node` in the background (its own process group, so a Ctrl-C in
/// this terminal does not reach it) and waits until it prints `listening on <URL>`.
/// Returns the pid and the URL.
pub async fn spawn(
    dir: &Path,
    host: &str,
    port: u16,
    cwd: &Path,
    sets: &[String],
) -> anyhow::Result<(i32, String)> {
    use std::os::unix::process::CommandExt as _;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stdout_path = dir.join(STDOUT_FILE);
    let stdout = File::create(&stdout_path)?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(LOG_FILE))?;
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.arg("serve")
        .args(["--host", host])
        .args(["--port", &port.to_string()]);
    cmd.arg("--data-dir").arg(dir);
    for set in sets {
        cmd.args(["--set", set]);
    }
    cmd.current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(log)
        .process_group(0);
    let mut child = cmd.spawn().context("starting `ringkv serve`")?;
    let pid = i32::try_from(child.id())?;
    std::fs::write(dir.join(PID_FILE), format!("{pid}\n"))?;
    let start = Instant::now();
    loop {
        let out = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        if let Some(url) = out.lines().find_map(|l| l.strip_prefix("listening on ")) {
            return Ok((pid, url.trim().to_string()));
        }
        if let Some(status) = child.try_wait()? {
            let _ = std::fs::remove_file(dir.join(PID_FILE));
            bail!(
                "the node exited ({status}) before it listened: {}",
                last_log_line(dir)
            );
        }
        if start.elapsed() > DEADLINE {
            bail!(
                "the node (pid {pid}) did not listen within {DEADLINE:?}: {}",
                last_log_line(dir)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The last line of the node's log, for error messages.
pub fn last_log_line(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap_or_default();
    let line = log
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no log)");
    format!("{line} (log: {})", dir.join(LOG_FILE).display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_dirs_are_named_by_port_or_counted() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(new_dir(home.path(), 7777), home.path().join("7777"));
        assert_eq!(new_dir(home.path(), 0), home.path().join("node-1"));
        std::fs::create_dir(home.path().join("node-1")).unwrap();
        assert_eq!(new_dir(home.path(), 0), home.path().join("node-2"));
    }

    #[test]
    fn nodes_are_found_by_id_name_port_or_url() {
        let home = tempfile::tempdir().unwrap();
        let node = LocalNode {
            dir: home.path().join("node-1"),
            record: None,
        };
        std::fs::create_dir(&node.dir).unwrap();
        node.save(&Record {
            id: "127.0.0.1:4000".into(),
            url: "http://127.0.0.1:4000".into(),
            host: "127.0.0.1".into(),
            port: 4000,
            cwd: home.path().into(),
            sets: vec![],
        })
        .unwrap();
        for key in ["node-1", "127.0.0.1:4000", "4000", "http://127.0.0.1:4000/"] {
            assert_eq!(find(home.path(), key).unwrap().name(), "node-1", "{key}");
        }
        assert!(find(home.path(), "node-2").is_err());
        let found = find(home.path(), "node-1").unwrap();
        assert_eq!(found.running(), None, "no pid file");
        std::fs::write(
            found.dir.join(PID_FILE),
            format!("{}\n", std::process::id()),
        )
        .unwrap();
        assert_eq!(
            found.running(),
            None,
            "this test process does not run that dir"
        );
    }
}
