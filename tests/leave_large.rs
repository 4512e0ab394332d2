//! A member holding many keys leaves (`RINGKV_TEST_LEAVE_KEYS`, default 25,000 to keep CI short,
//! 50,000 for the closing figures; on 4 nodes with N=3 the leaver holds three quarters of them): `DELETE /peers/{id}` answers 202 at once,
//! the leave completes (time printed), and every key is readable at the default R during the
//! leave (random reads through every node) and after it (every key through the members left).

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use common::{Cluster, DEADLINE, member_statuses, wait_until};
use serde_json::json;

fn key_count() -> usize {
    std::env::var("RINGKV_TEST_LEAVE_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25_000)
}

#[test]
fn a_member_holding_many_keys_leaves_with_every_key_readable_throughout() {
    let keys = key_count();
    let mut cluster = Cluster::builder(4).set("gossip.interval_ms", 200).start();
    let http = cluster.http.clone();
    let urls = cluster.urls();
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..8 {
            let (next, http, urls) = (&next, &http, &urls);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= keys {
                        break;
                    }
                    let url = format!("{}/items/big{i}", urls[(i + t) % urls.len()]);
                    http.json("PUT", &url, &[], &json!({ "value": i }))
                        .expect(201);
                }
            });
        }
    });
    println!(
        "preloaded {keys} keys in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let (leaver_id, leaver_url) = (cluster.nodes[3].id.clone(), cluster.nodes[3].url.clone());
    let stop = AtomicBool::new(false);
    let wrong = Mutex::new(Vec::new());
    let reads = AtomicUsize::new(0);
    let took = thread::scope(|s| {
        for t in 0..3u64 {
            let (stop, wrong, reads, http) = (&stop, &wrong, &reads, &http);
            let readers: Vec<String> = urls[..3].to_vec();
            s.spawn(move || {
                let mut x = 0x2545_F491_4F6C_DD1D_u64 ^ t;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let i = (x as usize) % keys;
                    let url = format!("{}/items/big{i}", readers[(x as usize / 3) % 3]);
                    match http.try_send("GET", &url, &[], None) {
                        Ok(r) if r.status == 200 && r.json() == json!({ "value": i }) => {
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => wrong
                            .lock()
                            .unwrap()
                            .push(format!("{url}: {} {}", r.status, r.body)),
                        Err(e) => wrong.lock().unwrap().push(format!("{url}: {e}")),
                    }
                }
            });
        }
        let start = Instant::now();
        let resp = http.raw(
            "DELETE",
            &cluster.nodes[0].at(&format!("/peers/{leaver_id}")),
            &[],
            None,
        );
        assert_eq!(resp.status, 202, "{}", resp.body);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until("the leaver is left everywhere", DEADLINE * 5, || {
                for url in &urls[..3] {
                    match member_statuses(&http, url)?.get(&leaver_url) {
                        Some(s) if s == "left" => {}
                        other => return Err(format!("{url} sees it {other:?}")),
                    }
                }
                Ok(())
            })
        }));
        stop.store(true, Ordering::Relaxed);
        result.map(|()| start.elapsed())
    });
    let took = took.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let moved = {
        let text = http.get(&cluster.nodes[3].at("/metrics")).expect(200).body;
        text.lines()
            .find_map(|l| {
                l.strip_prefix("ringkv_moved_keys_total")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
    };
    let wrong = wrong.into_inner().unwrap();
    println!(
        "leave of a member of 4 (N=3) holding ~{} of {keys} keys: {:.2} s, {moved} new copies \
         sent; {} reads during it checked, {} wrong",
        keys * 3 / 4,
        took.as_secs_f64(),
        reads.load(Ordering::Relaxed),
        wrong.len()
    );
    assert!(wrong.is_empty(), "{:?}", &wrong[..wrong.len().min(5)]);
    cluster.nodes[3].kill();
    // Afterwards, every key through each member left, at the default R.
    thread::scope(|s| {
        for t in 0..6 {
            let (http, urls) = (&http, &urls);
            s.spawn(move || {
                for i in (t..keys).step_by(6) {
                    let url = format!("{}/items/big{i}", urls[i % 3]);
                    let r = http.get(&url);
                    assert_eq!(r.status, 200, "{url}: {}", r.body);
                    assert_eq!(r.json(), json!({ "value": i }), "{url}");
                }
            });
        }
    });
}
