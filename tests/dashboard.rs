//! `GET /dashboard` rendered by headless Chromium against a running 3-node cluster: the DOM
//! (`--dump-dom`, after the page's script polled `/peers` and `/metrics`) has a row for every
//! member, alive; after one node is killed (SIGKILL) and the failure detector (short
//! `gossip.*` timeouts) calls it dead, the DOM shows it dead. Screenshots of both states are
//! kept in the test's output dir (`$CARGO_TARGET_TMPDIR/dashboard/`).
//!
//! Chromium must be installed (`apt-get install -y chromium`; `.ci/run` does it) or named by
//! `CHROMIUM=/path`; without it the test fails saying so, unless `RINGKV_SKIP_BROWSER_TESTS=1`
//! asks to skip it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Cluster, DEADLINE, wait_until};
use serde_json::json;

/// The Chromium binary: `$CHROMIUM`, else the first of the usual names on `PATH`.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|candidate| candidate.is_file())
}

/// Runs headless Chromium on `url` with `mode` (`--dump-dom` or `--screenshot=...`) and the
/// page's timers given 5 s of virtual time; returns stdout. Bounded by `timeout`.
fn browse(browser: &Path, profile: &Path, url: &str, mode: &str) -> String {
    let out = Command::new("timeout")
        .arg(DEADLINE.as_secs().to_string())
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,900",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(mode)
        .arg(url)
        .output()
        .expect("running chromium");
    assert!(
        out.status.success(),
        "chromium {mode} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `data-status` of the member row of `id` in a dumped DOM.
fn status_in(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!("data-member-id=\"{id}\""))?;
    let row = &dom[at..at + dom[at..].find('>')?];
    let value = row.split("data-status=\"").nth(1)?;
    Some(value[..value.find('"')?].to_string())
}

/// Takes a screenshot into `dir/name` and checks a PNG landed there.
fn screenshot(browser: &Path, profile: &Path, url: &str, dir: &Path, name: &str) {
    let file = dir.join(name);
    browse(
        browser,
        profile,
        url,
        &format!("--screenshot={}", file.display()),
    );
    let png = std::fs::read(&file).expect("the screenshot file");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} is no real PNG",
        file.display()
    );
    eprintln!("dashboard screenshot: {}", file.display());
}

#[test]
fn the_dashboard_shows_every_member_and_a_dead_one() {
    let Some(browser) = chromium() else {
        if std::env::var_os("RINGKV_SKIP_BROWSER_TESTS").is_some() {
            eprintln!("SKIPPED: headless Chromium not found and RINGKV_SKIP_BROWSER_TESTS is set");
            return;
        }
        panic!(
            "this test renders /dashboard in headless Chromium, which is not installed: \
             `apt-get install -y chromium` (or set CHROMIUM=/path/to/chrome)"
        );
    };
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&out_dir).expect("creating the output dir");
    let mut cluster = Cluster::builder(3)
        .set("gossip.interval_ms", 100)
        .set("gossip.failure_timeout_ms", 500)
        .set("gossip.suspect_timeout_ms", 500)
        .start();
    let profile = cluster.dir().join("chromium-profile");
    for i in 0..20 {
        cluster.nodes[i % 3]
            .put(&format!("k{i}"), json!(i))
            .expect(201);
    }
    let url = cluster.nodes[0].at("/dashboard");
    let ids: Vec<String> = cluster.nodes.iter().map(|n| n.id.clone()).collect();

    let dom = browse(&browser, &profile, &url, "--dump-dom");
    for id in &ids {
        assert_eq!(
            status_in(&dom, id).as_deref(),
            Some("alive"),
            "{id} in\n{dom}"
        );
    }
    assert!(
        dom.contains("requests/s") && dom.contains("/items/{key}"),
        "{dom}"
    );
    screenshot(&browser, &profile, &url, &out_dir, "three-alive.png");

    cluster.nodes[2].kill();
    let (http, peers) = (&cluster.http, cluster.nodes[0].at("/peers"));
    wait_until("node0 believes the killed node dead", DEADLINE, || {
        let members = http.get(&peers).expect(200).json()["members"].clone();
        let dead = members
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["id"] == ids[2].as_str() && m["status"] == "dead");
        if dead {
            Ok(())
        } else {
            Err(members.to_string())
        }
    });
    let dom = browse(&browser, &profile, &url, "--dump-dom");
    assert_eq!(status_in(&dom, &ids[2]).as_deref(), Some("dead"), "{dom}");
    for id in &ids[..2] {
        assert_eq!(status_in(&dom, id).as_deref(), Some("alive"), "{id}");
    }
    screenshot(&browser, &profile, &url, &out_dir, "one-dead.png");
}
