//! The HTTP side of the CLI: [`Nodes`], a client of several nodes that tries the next one when
//! one is down, and the `ringkv client ...` commands built on it (read, write, update, delete,
//! append).
//!
//! Invariants:
//! - A request moves on to the next `--url` when it could not connect (it certainly never
//!   reached that node). A request that may have reached the node (a timeout, a reset
//!   connection) moves on only when it is safe to repeat: a read, or a write carrying an
//!   `Idempotency-Key`. An answer, even an error status, ends it.
//! - Every write of one command invocation carries the same `Idempotency-Key` (a random
//!   token), also when it is retried on another node, so the server (API.md "Idempotent
//!   retries") applies it once and answers the first attempt's status and body.
//! - A failure is one line (`main` prints it): the status and the server's `detail`, or every
//!   node tried and why it was not reached.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The nodes of `ringkv dev`'s first node, the default when no `--url` is given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:7777";

/// The header of the cluster secret (see `crate::api::SECRET_HEADER`).
const SECRET_HEADER: &str = "x-cluster-secret";

/// Which nodes to talk to.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Node URLs, tried in order until one accepts the connection (repeat or comma-separate)
    /// [default: http://127.0.0.1:7777; for `server` commands: the running local nodes].
    #[arg(
        long = "url",
        value_name = "URL",
        env = "RINGKV_URL",
        value_delimiter = ',',
        global = true
    )]
    pub urls: Vec<String>,
    /// Sent as X-Cluster-Secret on admin requests (join, leave).
    #[arg(
        long,
        env = "RINGKV_CLUSTER_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub secret: Option<String>,
}

/// A node's answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// The node that answered.
    pub url: String,
    pub body: String,
}

impl Answer {
    /// The body as JSON (`null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The server's `detail`, or the body itself.
    pub fn detail(&self) -> String {
        match self.json()["detail"].as_str() {
            Some(d) => d.to_string(),
            None => self.body.trim().to_string(),
        }
    }

    /// `Err("<status>: <detail>")` unless the status is 2xx or 300.
    pub fn ok(self) -> anyhow::Result<Answer> {
        if self.status.is_success() || self.status == StatusCode::MULTIPLE_CHOICES {
            Ok(self)
        } else {
            bail!("{} answered {}: {}", self.url, self.status, self.detail())
        }
    }
}

/// One request, built once and sent to one node after the other.
pub struct Call<'a> {
    pub method: Method,
    /// Path segments after the base URL (percent-encoded when sent), e.g. `["items", key]`.
    pub segments: &'a [&'a str],
    pub query: &'a [(&'a str, String)],
    pub headers: &'a [(&'a str, String)],
    pub body: Option<&'a Value>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, segments: &'a [&'a str]) -> Call<'a> {
        Call {
            method,
            segments,
            query: &[],
            headers: &[],
            body: None,
        }
    }
}

/// A client of several nodes: each request goes to the first that accepts a connection.
pub struct Nodes {
    urls: Vec<url::Url>,
    http: reqwest::Client,
    secret: Option<String>,
}

impl Nodes {
    pub fn new(target: &Target, timeout: Duration) -> anyhow::Result<Nodes> {
        let mut urls = Vec::new();
        for raw in target
            .urls
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
        {
            let with_scheme = if raw.contains("://") {
                raw.to_string()
            } else {
                format!("http://{raw}")
            };
            let url = url::Url::parse(&with_scheme)
                .with_context(|| format!("--url {raw} is not a URL"))?;
            if url.cannot_be_a_base() || url.host().is_none() {
                bail!("--url {raw} is not a node's base URL such as http://127.0.0.1:7777");
            }
            urls.push(url);
        }
        if urls.is_empty() {
            urls.push(url::Url::parse(DEFAULT_URL)?);
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .no_proxy()
            .build()?;
        Ok(Nodes {
            urls,
            http,
            secret: target.secret.clone(),
        })
    }

    /// The node URLs, in the order they are tried.
    pub fn urls(&self) -> impl Iterator<Item = String> + '_ {
        self.urls
            .iter()
            .map(|u| u.as_str().trim_end_matches('/').to_string())
    }

    fn url_of(base: &url::Url, call: &Call<'_>) -> anyhow::Result<url::Url> {
        let mut url = base.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow!("{base} cannot take a path"))?
            .pop_if_empty()
            .extend(call.segments);
        if !call.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(call.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    /// Sends `call` to each node in turn until one answers (see the module invariants for
    /// when a request that may have arrived is sent again).
    pub async fn send(&self, call: &Call<'_>) -> anyhow::Result<Answer> {
        let repeatable = call.method == Method::GET
            || call
                .headers
                .iter()
                .any(|(name, _)| *name == "idempotency-key");
        let mut refused = Vec::new();
        for base in &self.urls {
            let url = Self::url_of(base, call)?;
            let mut req = self.http.request(call.method.clone(), url);
            for (name, value) in call.headers {
                req = req.header(*name, value);
            }
            if let Some(secret) = &self.secret {
                req = req.header(SECRET_HEADER, secret);
            }
            if let Some(body) = call.body {
                req = req
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            let shown = base.as_str().trim_end_matches('/').to_string();
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let body = resp.text().await.context("reading the answer")?;
                    return Ok(Answer {
                        status,
                        url: shown,
                        body,
                    });
                }
                Err(e) if e.is_connect() => refused.push(format!("{shown} ({})", root_cause(&e))),
                Err(e) if repeatable => refused.push(format!("{shown} ({})", root_cause(&e))),
                Err(e) if e.is_timeout() => bail!("{shown} did not answer in time"),
                Err(e) => bail!("{shown}: {}", root_cause(&e)),
            }
        }
        bail!("no node could be reached: {}", refused.join(", "))
    }
}

/// The innermost cause of an error, which says what happened ("Connection refused").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A random token for the `Idempotency-Key` of one command invocation: 128 bits, hex.
pub fn idempotency_key() -> anyhow::Result<String> {
    Ok(format!("{:032x}", rand::random::<u128>()))
}

/// A command-line value: JSON when it parses as JSON (`42`, `true`, `'"text"'`, `'[1]'`),
/// otherwise the text itself as a string; `--string` always takes the text.
pub fn parse_value(raw: &str, force_string: bool) -> Value {
    if force_string {
        return Value::String(raw.to_string());
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// `ringkv client` and its options shared by every subcommand.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    #[command(subcommand)]
    pub command: ClientCommand,
    #[command(flatten)]
    pub target: Target,
    /// Without --url, the running local nodes of this home are used (see `ringkv server`).
    #[arg(long, env = "RINGKV_HOME", default_value = "./data", global = true)]
    pub home: std::path::PathBuf,
}

/// `ringkv client ...` commands.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Print a key's value, or every key and value (one JSON object a line) without KEY.
    #[command(after_help = "Examples:\n  ringkv client read greeting\n  \
        ringkv client read greeting --rev 3\n  \
        ringkv client read --prefix user: --url http://127.0.0.1:7777,http://127.0.0.1:8888")]
    Read {
        key: Option<String>,
        /// With no KEY: only keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Also print up to N values KEY held before, newest first, one JSON object
        /// `{"value": V, "written_at": T}` a line after the current value (seed 002's
        /// `get KEY -rev N`); a deleted key prints them and fails.
        #[arg(long, value_name = "N", requires = "key")]
        rev: Option<usize>,
    },
    /// Store a value under a key (creating or replacing it).
    #[command(after_help = "Examples:\n  ringkv client write greeting hello\n  \
        ringkv client write counter 42\n  ringkv client write session '{\"user\": 7}' --ttl 30")]
    Write(WriteArgs),
    /// Replace the value of a key that exists; fails when it does not.
    #[command(after_help = "Example:\n  ringkv client update greeting 'hello again'")]
    Update(WriteArgs),
    /// Delete a key; fails when there was nothing to delete.
    #[command(after_help = "Example:\n  ringkv client delete greeting")]
    Delete { key: String },
    /// Append to a value: strings concatenate, arrays push; an absent key is created.
    #[command(after_help = "Examples:\n  ringkv client append log 'line 1'\n  \
        ringkv client append events '[\"started\"]'")]
    Append(WriteArgs),
}

/// KEY VALUE and the options of a write.
#[derive(Debug, Clone, clap::Args)]
pub struct WriteArgs {
    pub key: String,
    /// JSON (`42`, `true`, `'"text"'`, `'{"a": 1}'`), or else taken as a string.
    pub value: String,
    /// Take VALUE as a string even when it parses as JSON (`--string 42` stores "42").
    #[arg(long)]
    pub string: bool,
    /// Seconds until the value expires.
    #[arg(long)]
    pub ttl: Option<u64>,
}

/// What kind of write a [`WriteArgs`] becomes.
#[derive(Clone, Copy)]
enum WriteKind {
    Write,
    Update,
    Append,
}

/// Runs one `ringkv client` command: through `--url`, else the running local nodes, else
/// [`DEFAULT_URL`].
pub async fn run(args: ClientArgs) -> anyhow::Result<()> {
    let mut target = args.target;
    if target.urls.is_empty() {
        target.urls = crate::cli::local::running_urls(&args.home)?;
    }
    let nodes = Nodes::new(&target, Duration::from_secs(30))?;
    match args.command {
        ClientCommand::Read {
            key: Some(key),
            rev,
            ..
        } => read_one(&nodes, &key, rev).await,
        ClientCommand::Read {
            key: None, prefix, ..
        } => read_all(&nodes, &prefix).await,
        ClientCommand::Write(args) => write(&nodes, &args, WriteKind::Write).await,
        ClientCommand::Update(args) => write(&nodes, &args, WriteKind::Update).await,
        ClientCommand::Append(args) => write(&nodes, &args, WriteKind::Append).await,
        ClientCommand::Delete { key } => delete(&nodes, &key).await,
    }
}

async fn read_one(nodes: &Nodes, key: &str, rev: Option<usize>) -> anyhow::Result<()> {
    let query: Vec<(&str, String)> = rev
        .map(|n| ("history", n.to_string()))
        .into_iter()
        .collect();
    let segments = ["items", key];
    let call = Call {
        query: &query,
        ..Call::new(Method::GET, &segments)
    };
    let answer = nodes.send(&call).await?;
    let print_history = |body: &Value| {
        for past in body["history"].as_array().into_iter().flatten() {
            println!("{past}");
        }
    };
    if answer.status == StatusCode::NOT_FOUND {
        let body = answer.json();
        match body["history"].as_array() {
            Some(past) if !past.is_empty() => {
                print_history(&body);
                bail!("key {key:?} not found (deleted); its past values are printed above");
            }
            _ => bail!("key {key:?} not found"),
        }
    }
    let answer = answer.ok()?;
    let body = answer.json();
    if answer.status == StatusCode::MULTIPLE_CHOICES {
        eprintln!("{key:?} has concurrent values (siblings); a write resolves them");
        println!("{}", body["values"]);
    } else {
        println!("{}", body["value"]);
    }
    print_history(&body);
    Ok(())
}

/// Every key and value, one JSON object a line, paged through `GET /items` in key order.
async fn read_all(nodes: &Nodes, prefix: &str) -> anyhow::Result<()> {
    let bar = crate::cli::bar::counter("keys read");
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "1000".to_string())];
        if !prefix.is_empty() {
            query.push(("prefix", prefix.to_string()));
        }
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let call = Call {
            query: &query,
            ..Call::new(Method::GET, &["items"])
        };
        let page = nodes.send(&call).await?.ok()?.json();
        let items = page["items"].as_array().cloned().unwrap_or_default();
        bar.suspend(|| {
            for item in &items {
                println!("{item}");
            }
        });
        bar.inc(items.len() as u64);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    bar.finish_and_clear();
    Ok(())
}

async fn write(nodes: &Nodes, args: &WriteArgs, kind: WriteKind) -> anyhow::Result<()> {
    let mut body = json!({ "value": parse_value(&args.value, args.string) });
    if let Some(ttl) = args.ttl {
        body["ttl"] = ttl.into();
    }
    let mut headers = vec![("idempotency-key", idempotency_key()?)];
    let (method, segments): (Method, &[&str]) = match kind {
        WriteKind::Append => (Method::POST, &["items", &args.key, "append"]),
        WriteKind::Write | WriteKind::Update => (Method::PUT, &["items", &args.key]),
    };
    if matches!(kind, WriteKind::Update) {
        headers.push(("if-match", "*".to_string()));
    }
    let call = Call {
        headers: &headers,
        body: Some(&body),
        ..Call::new(method, segments)
    };
    let answer = nodes.send(&call).await?;
    if matches!(kind, WriteKind::Update) && answer.status == StatusCode::PRECONDITION_FAILED {
        bail!(
            "key {:?} does not exist: update only changes existing keys (use write)",
            args.key
        );
    }
    let answer = answer.ok()?;
    println!("{}", answer.body.trim());
    Ok(())
}

async fn delete(nodes: &Nodes, key: &str) -> anyhow::Result<()> {
    let headers = [("idempotency-key", idempotency_key()?)];
    let segments = ["items", key];
    let call = Call {
        headers: &headers,
        ..Call::new(Method::DELETE, &segments)
    };
    let answer = nodes.send(&call).await?;
    if answer.status == StatusCode::NOT_FOUND {
        bail!("key {key:?} not found: nothing to delete");
    }
    answer.ok()?;
    println!("deleted {key:?}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(urls: &[&str]) -> anyhow::Result<Nodes> {
        let target = Target {
            urls: urls.iter().map(|u| u.to_string()).collect(),
            secret: None,
        };
        Nodes::new(&target, Duration::from_secs(1))
    }

    #[test]
    fn keys_are_percent_encoded_as_one_segment() {
        let n = nodes(&["127.0.0.1:7777/"]).unwrap();
        let call = Call::new(Method::POST, &["items", "this is/key", "append"]);
        let url = Nodes::url_of(&n.urls[0], &call).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:7777/items/this%20is%2Fkey/append"
        );
        assert_eq!(
            nodes(&[]).unwrap().urls().collect::<Vec<_>>(),
            [DEFAULT_URL]
        );
        assert!(nodes(&["mailto:x"]).is_err());
    }

    #[test]
    fn values_are_json_or_text() {
        assert_eq!(parse_value("42", false), json!(42));
        assert_eq!(parse_value("42", true), json!("42"));
        assert_eq!(parse_value("hello world", false), json!("hello world"));
        assert_eq!(parse_value("\"q\"", false), json!("q"));
        assert_eq!(parse_value("{\"a\": [1]}", false), json!({"a": [1]}));
        let key = idempotency_key().unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(key, idempotency_key().unwrap());
    }

    #[tokio::test]
    async fn a_refused_connection_moves_on_and_all_refused_names_every_node() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let err = nodes(&[&dead, &dead])
            .unwrap()
            .send(&Call::new(Method::GET, &["healthcheck"]))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no node could be reached"), "{err}");
        assert_eq!(err.matches(&dead).count(), 2, "{err}");
    }
}
