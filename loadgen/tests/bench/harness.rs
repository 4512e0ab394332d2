//! The test double of a ringkv node: PUT/GET /items/{key} over a `Mutex<HashMap>`, on port 0,
//! counting every answer it gives by method and status, recording query strings, and answering
//! 503 to every n-th request of a chosen method when asked to.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ringkv_loadgen::{BenchArgs, Report};
use serde_json::{Value, json};

/// Which requests the server fails with 503.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Every n-th GET answers 503 (counted over GETs only).
    pub get_every: Option<u64>,
    /// Every n-th PUT answers 503 (counted over PUTs only).
    pub put_every: Option<u64>,
}

#[derive(Default)]
struct Shared {
    faults: Faults,
    items: Mutex<HashMap<String, Value>>,
    /// Answers given, by (method, status).
    answers: Mutex<BTreeMap<(String, u16), u64>>,
    /// Query strings seen, by method ("" when none).
    queries: Mutex<BTreeSet<(String, String)>>,
    gets: AtomicU64,
    puts: AtomicU64,
}

pub struct TestNode {
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestNode {
    pub async fn start(faults: Faults) -> Self {
        let shared = Arc::new(Shared {
            faults,
            ..Shared::default()
        });
        let app = Router::new()
            .route("/items/{key}", get(get_item).put(put_item))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            shared,
            server,
        }
    }

    /// Answers of `method` with `status` given so far.
    pub fn answered(&self, method: &str, status: u16) -> u64 {
        let answers = self.shared.answers.lock().unwrap();
        answers
            .get(&(method.to_owned(), status))
            .copied()
            .unwrap_or(0)
    }

    /// All answers of `method`, whatever the status.
    pub fn answered_all(&self, method: &str) -> u64 {
        let answers = self.shared.answers.lock().unwrap();
        answers
            .iter()
            .filter(|((m, _), _)| m == method)
            .map(|(_, n)| n)
            .sum()
    }

    /// Distinct query strings seen on `method` requests.
    pub fn queries(&self, method: &str) -> Vec<String> {
        let queries = self.shared.queries.lock().unwrap();
        queries
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, q)| q.clone())
            .collect()
    }

    pub fn items(&self) -> HashMap<String, Value> {
        self.shared.items.lock().unwrap().clone()
    }
}

impl Shared {
    fn answer(
        &self,
        method: Method,
        query: Option<String>,
        status: StatusCode,
        body: Value,
    ) -> Response {
        let method = method.as_str().to_owned();
        self.queries
            .lock()
            .unwrap()
            .insert((method.clone(), query.unwrap_or_default()));
        *self
            .answers
            .lock()
            .unwrap()
            .entry((method, status.as_u16()))
            .or_default() += 1;
        (status, axum::Json(body)).into_response()
    }

    fn injected(counter: &AtomicU64, every: Option<u64>) -> bool {
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        every.is_some_and(|every| n.is_multiple_of(every))
    }
}

fn unavailable() -> Value {
    json!({"detail": "injected: 1 of 2 replicas answered"})
}

async fn get_item(
    State(s): State<Arc<Shared>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if Shared::injected(&s.gets, s.faults.get_every) {
        return s.answer(
            Method::GET,
            query,
            StatusCode::SERVICE_UNAVAILABLE,
            unavailable(),
        );
    }
    let value = s.items.lock().unwrap().get(&key).cloned();
    match value {
        Some(value) => s.answer(
            Method::GET,
            query,
            StatusCode::OK,
            json!({ "value": value }),
        ),
        None => s.answer(
            Method::GET,
            query,
            StatusCode::NOT_FOUND,
            json!({"detail": "not found"}),
        ),
    }
}

async fn put_item(
    State(s): State<Arc<Shared>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if Shared::injected(&s.puts, s.faults.put_every) {
        return s.answer(
            Method::PUT,
            query,
            StatusCode::SERVICE_UNAVAILABLE,
            unavailable(),
        );
    }
    let Some(value) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|mut v| v.get_mut("value").map(Value::take))
    else {
        return s.answer(
            Method::PUT,
            query,
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": "bad body"}),
        );
    };
    let existed = s
        .items
        .lock()
        .unwrap()
        .insert(key.clone(), value.clone())
        .is_some();
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    s.answer(
        Method::PUT,
        query,
        status,
        json!({ "key": key, "value": value }),
    )
}

/// `ringkv bench` arguments as a user would type them.
pub fn args(argv: &[&str]) -> BenchArgs {
    BenchArgs::try_parse_from(std::iter::once("bench").chain(argv.iter().copied()))
        .expect("valid bench arguments")
}

/// Runs the benchmark with a deadline, so a hang fails the test instead of stalling it.
pub async fn bench(argv: &[&str]) -> Report {
    tokio::time::timeout(
        Duration::from_secs(60),
        ringkv_loadgen::run_with_report(args(argv)),
    )
    .await
    .expect("the bench finished within 60 s")
    .expect("the bench ran")
}
