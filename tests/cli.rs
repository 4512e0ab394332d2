//! The operator's CLI end to end, with real processes (seed 001's shape): `ringkv server start`
//! runs three nodes in the background and joins them, `server list` shows every member,
//! `client write|read|update|append|delete` go through any node and retry the next `--url`
//! when one is down, an update of an absent key fails with one line, and `server stop`,
//! `stop --leave`, `restart` and `kill` act on the processes their pid files name.
//!
//! Every command runs as its own `ringkv` process with `--home` in a temp dir; the nodes it
//! starts outlive it (that is the point), so a guard SIGKILLs every pid file's process when
//! the test ends, also on a panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{DEADLINE, free_ports, wait_until};
use serde_json::Value;

/// A temp dir whose `home/` holds the nodes; their processes are killed on drop.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::Builder::new()
            .prefix("ringkv-cli-")
            .tempdir()
            .expect("temp dir");
        Home { dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// Runs `ringkv <args>` to completion (`server` and `client` commands get `--home`).
    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringkv"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("RINGKV_") {
                cmd.env_remove(&name);
            }
        }
        cmd.args(args);
        if matches!(args.first(), Some(&"server" | &"client")) {
            cmd.arg("--home").arg(self.home());
        }
        cmd.current_dir(self.dir.path())
            .env("RUST_LOG", "warn")
            .output()
            .expect("running ringkv")
    }

    /// Runs and expects success; returns stdout.
    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let (stdout, stderr) = texts(&out);
        assert!(
            out.status.success(),
            "ringkv {args:?} failed: {stderr}\n{stdout}"
        );
        stdout
    }

    /// Runs and expects failure with exactly one line on stderr; returns that line.
    #[track_caller]
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let (stdout, stderr) = texts(&out);
        assert!(!out.status.success(), "ringkv {args:?} succeeded: {stdout}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one clear line on failure, got {stderr:?}");
        assert!(lines[0].starts_with("error: "), "{stderr}");
        lines[0].to_string()
    }

    /// `server start <args>`: the id and URL from its `started ID at URL (...)` line.
    #[track_caller]
    fn start(&self, args: &[&str]) -> (String, String) {
        let mut all = vec!["server", "start", "--set", "storage.sync=never"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        let line = out
            .lines()
            .find(|l| l.starts_with("started "))
            .expect("started line");
        let mut words = line.split_whitespace().skip(1);
        let id = words.next().expect("id").to_string();
        assert_eq!(words.next(), Some("at"), "{line}");
        (id, words.next().expect("url").to_string())
    }

    /// `server list --json`, rows by id.
    fn members(&self, url: &str) -> Vec<Value> {
        let out = self.ok(&["server", "list", "--json", "--url", url]);
        serde_json::from_str::<Value>(&out)
            .expect("list --json is JSON")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        for pid in pids(&self.home()) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The pids in the pid files under `home`.
fn pids(home: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(home) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("ringkv.pid")).ok())
        .filter_map(|t| t.trim().parse().ok())
        .collect()
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
        })
        == Some(false)
}

fn pid_of(home: &Path, dir: &str) -> u32 {
    let text = std::fs::read_to_string(home.join(dir).join("ringkv.pid")).expect("pid file");
    text.trim().parse().expect("pid")
}

#[test]
fn three_nodes_through_the_cli() {
    let h = Home::new();
    let quorum = ["--set", "quorum.r=1", "--set", "quorum.w=1"];
    let (a_id, a) = h.start(&quorum);
    let (b_id, b) = h.start(&[&quorum[..], &["--join", a.as_str()]].concat());
    let (c_id, c) = h.start(&quorum);
    assert!(
        h.ok(&["server", "join", &c, "--url", &a])
            .contains("3 members")
    );
    wait_until("every node lists the three members", DEADLINE, || {
        for url in [&a, &b, &c] {
            let rows = h.members(url);
            let shares: f64 = rows.iter().filter_map(|r| r["ring_share"].as_f64()).sum();
            let ids: Vec<&str> = rows.iter().filter_map(|r| r["id"].as_str()).collect();
            let healthy = rows.iter().all(|r| r["health"] == "ok");
            if ids.len() != 3 || (shares - 1.0).abs() > 1e-6 || !healthy {
                return Err(format!("{url}: {rows:?}"));
            }
        }
        Ok(())
    });
    let table = h.ok(&["server", "list"]);
    for id in [&a_id, &b_id, &c_id] {
        assert!(table.contains(id.as_str()), "{id} missing from\n{table}");
    }

    // The first --url is down: the command goes to the next one.
    let down = format!("http://127.0.0.1:{}", free_ports(1)[0]);
    let urls = format!("{down},{a}");
    assert!(
        h.ok(&["client", "write", "greeting", "hello", "--url", &urls])
            .contains("\"hello\"")
    );
    assert_eq!(
        h.ok(&["client", "read", "greeting", "--url", &down, "--url", &b])
            .trim(),
        "\"hello\""
    );
    let absent = h.fails(&["client", "update", "absent", "x", "--url", &c]);
    assert!(absent.contains("does not exist"), "{absent}");
    h.fails(&["client", "read", "absent", "--url", &c]);
    h.ok(&["client", "update", "greeting", "hi", "--url", &c]);
    h.ok(&["client", "append", "log", "a", "--url", &a]);
    h.ok(&["client", "append", "log", "b", "--url", &b]);
    assert_eq!(
        h.ok(&["client", "read", "log", "--url", &c]).trim(),
        "\"ab\""
    );
    // `--rev N`: the current value, then the values before it, newest first (seed 002).
    let revs = h.ok(&["client", "read", "log", "--rev", "3", "--url", &b]);
    let lines: Vec<&str> = revs.lines().collect();
    assert_eq!(lines.len(), 2, "{revs}");
    assert_eq!(lines[0], "\"ab\"");
    let past: Value = serde_json::from_str(lines[1]).expect("a JSON line");
    assert_eq!(past["value"], "a", "{revs}");
    assert!(past["written_at"].is_string(), "{revs}");
    h.ok(&["client", "write", "n", "42", "--url", &a]);
    let all = h.ok(&["client", "read", "--url", &b]);
    let lines: Vec<Value> = all
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 3, "{all}");
    assert!(
        lines.iter().any(|l| l["key"] == "n" && l["value"] == 42),
        "{all}"
    );
    h.ok(&["client", "delete", "n", "--url", &a]);
    assert!(
        h.fails(&["client", "read", "n", "--url", &a])
            .contains("not found")
    );
    assert!(
        h.fails(&["client", "delete", "n", "--url", &a])
            .contains("not found")
    );

    // Graceful stop, then the same node (port, data) again.
    let c_dir = h
        .members(&a)
        .iter()
        .find(|r| r["id"] == c_id.as_str())
        .map(|r| r["local"].clone());
    assert!(c_dir.is_some_and(|l| l.as_str().is_some_and(|l| l.starts_with("pid "))));
    let c_pid = pid_of(&h.home(), "node-3");
    assert!(h.ok(&["server", "stop", &c_id]).contains("stopped"));
    assert!(!alive(c_pid), "SIGTERM stopped pid {c_pid}");
    assert!(h.fails(&["server", "stop", &c_id]).contains("not running"));
    let (again, c2) = h.start_again(&c_id);
    assert_eq!((again.as_str(), c2.as_str()), (c_id.as_str(), c.as_str()));
    assert_eq!(
        h.ok(&["client", "read", "log", "--url", &c]).trim(),
        "\"ab\""
    );

    // Leave, then stop: the member is gone from the others' view.
    assert!(
        h.ok(&["server", "stop", &c_id, "--leave"])
            .contains("left the cluster")
    );
    wait_until("a sees that the node left", DEADLINE, || {
        let rows = h.members(&a);
        let row = rows.iter().find(|r| r["id"] == c_id.as_str());
        let gone = row.is_none_or(|r| r["status"] == "left" || r["status"] == "stopped");
        if gone {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    });

    // SIGKILL, and the survivors still answer through a list that starts with the dead node.
    let b_pid = pid_of(&h.home(), "node-2");
    assert!(h.ok(&["server", "kill", "node-2"]).contains("killed"));
    assert!(!alive(b_pid), "SIGKILL ended pid {b_pid}");
    assert!(h.fails(&["server", "kill", &b_id]).contains("not running"));
    let urls = format!("{b},{a}");
    assert_eq!(
        h.ok(&["client", "read", "log", "--url", &urls]).trim(),
        "\"ab\""
    );
    assert!(
        h.fails(&["client", "read", "log", "--url", &b])
            .contains("no node could be reached")
    );
}

impl Home {
    /// `server restart ID`: the id and URL it prints.
    fn start_again(&self, id: &str) -> (String, String) {
        let out = self.ok(&["server", "restart", id]);
        let line = out
            .lines()
            .find(|l| l.starts_with("started "))
            .expect("started line");
        let words: Vec<&str> = line.split_whitespace().collect();
        (words[1].to_string(), words[3].to_string())
    }
}

#[test]
fn every_command_explains_itself_with_an_example() {
    let h = Home::new();
    let commands: [&[&str]; 14] = [
        &[],
        &["serve"],
        &["dev"],
        &["bench"],
        &["server"],
        &["server", "start"],
        &["server", "list"],
        &["server", "join"],
        &["server", "stop"],
        &["server", "restart"],
        &["server", "kill"],
        &["client", "read"],
        &["client", "write"],
        &["client", "update"],
    ];
    let more: [&[&str]; 4] = [
        &["client", "delete"],
        &["client", "append"],
        &["client"],
        &["healthcheck"],
    ];
    for args in commands.iter().chain(&more) {
        let help = h.ok(&[*args, &["--help"][..]].concat());
        assert!(
            help.contains("Example"),
            "ringkv {args:?} --help has no example:\n{help}"
        );
    }
    let bad = h.fails(&["server", "stop", "no-such-node"]);
    assert!(bad.contains("no local node"), "{bad}");
    let bad = h.fails(&["client", "read", "k", "--url", "mailto:x"]);
    assert!(bad.contains("--url"), "{bad}");
}

#[test]
fn server_list_watch_follows_a_join_until_it_is_done() {
    let home = Home::new();
    let ports = free_ports(2);
    let (p0, p1) = (ports[0].to_string(), ports[1].to_string());
    let (_, url0) = home.start(&["--port", &p0]);
    for i in 0..400 {
        home.ok(&["client", "write", &format!("w{i}"), "1", "--url", &url0]);
    }
    // A slow joiner: 100 keys a second, so the watch sees the move in progress.
    let (id1, url1) = home.start(&["--port", &p1, "--set", "move_rate_keys_per_sec=100"]);
    home.ok(&["server", "join", &url1, "--url", &url0]);
    let started = std::time::Instant::now();
    let table = home.ok(&["server", "list", "--watch", "--url", &url0]);
    println!(
        "server list --watch returned after {:.1} s:\n{table}",
        started.elapsed().as_secs_f64()
    );
    let row = table
        .lines()
        .find(|l| l.starts_with(&id1))
        .unwrap_or_else(|| panic!("{id1} in {table}"));
    assert!(
        row.contains("alive"),
        "the join is done when --watch returns: {row}"
    );
    assert!(
        started.elapsed().as_secs_f64() > 1.0,
        "it waited for the move"
    );
}
