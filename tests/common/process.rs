//! Other `ringkv` processes (e.g. `ringkv dev`): [`Proc`] collects stdout lines, sends signals and
//! waits for the exit status with a deadline. Invariant: the child is killed and reaped on drop.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;

use super::{DEADLINE, clean_env, signal_and_reap, wait_until};

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
        clean_env(&mut cmd);
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
        signal_and_reap(&mut child, signal).unwrap_or_else(|why| panic!("{why}"))
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
