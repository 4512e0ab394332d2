//! A concurrent write load for durability tests: client threads PUT fresh keys until enough were
//! acknowledged, then something happens to the nodes (SIGTERM, SIGKILL) and the acknowledged writes
//! are checked afterwards.

use std::thread;

use super::{DEADLINE, Http, Node, wait_until};

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
