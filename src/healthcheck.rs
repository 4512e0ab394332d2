//! `ringkv healthcheck [--url URL] [--ready]`: asks one node whether it is healthy, for
//! container health checks where no curl exists (the image is `FROM scratch`).
//!
//! Contract (used by the `Dockerfile`'s `HEALTHCHECK` and `docker-compose.yml`): exit status 0
//! when `GET /healthcheck` answers 200, else 1 with exactly one line on stderr saying why.
//! `--ready` asks `GET /healthcheck?ready=true` instead, which answers 200 only once the node has
//! fully joined its cluster (503 before). Nothing is printed on success.
//!
//! Self-contained on purpose (its own args, its own HTTP call): the other client commands are
//! being restructured, and a health probe must not depend on their defaults.

use std::time::Duration;

use clap::Args;

/// `ringkv healthcheck` flags.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// The node's URL [default: http://127.0.0.1:$PORT, or port 7777 when PORT is unset].
    #[arg(long)]
    pub url: Option<String>,
    /// Ask whether the node is ready (serving and fully joined), not only alive.
    #[arg(long)]
    pub ready: bool,
    /// Milliseconds to wait for the answer.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}

/// Runs the check: `Ok` when the node answered 200, else the one-line reason.
pub async fn check(args: &HealthcheckArgs) -> Result<(), String> {
    let url = probe_url(args)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(args.timeout_ms))
        // The node is probed directly; a proxy from the environment must not answer for it.
        .no_proxy()
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
    let resp = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", error_chain(&e)))?;
    let status = resp.status();
    if status == reqwest::StatusCode::OK {
        return Ok(());
    }
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let body: String = body.chars().take(200).collect();
    Err(format!("GET {url}: {status} {body}").trim_end().to_string())
}

/// The exit status of `ringkv healthcheck`, having printed the reason of a failure on stderr.
pub async fn run(args: &HealthcheckArgs) -> i32 {
    match check(args).await {
        Ok(()) => 0,
        Err(why) => {
            eprintln!("unhealthy: {why}");
            1
        }
    }
}

/// `--url` (or the local node on `$PORT`) with `/healthcheck` and, for `--ready`, `?ready=true`.
fn probe_url(args: &HealthcheckArgs) -> Result<url::Url, String> {
    let base = match &args.url {
        Some(url) => url.clone(),
        None => {
            let port = std::env::var("PORT").unwrap_or_else(|_| "7777".to_string());
            format!("http://127.0.0.1:{port}")
        }
    };
    let mut url = url::Url::parse(&base).map_err(|e| format!("bad URL `{base}`: {e}"))?;
    url.path_segments_mut()
        .map_err(|()| format!("bad URL `{base}`: it cannot have a path"))?
        .pop_if_empty()
        .push("healthcheck");
    url.set_query(args.ready.then_some("ready=true"));
    Ok(url)
}

/// An error and its sources on one line (`a: b: c`); reqwest's own message omits the cause.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: Option<&str>, ready: bool) -> HealthcheckArgs {
        HealthcheckArgs {
            url: url.map(str::to_string),
            ready,
            timeout_ms: 2000,
        }
    }

    #[test]
    fn the_probe_url_keeps_a_base_path_and_adds_the_ready_query() {
        let plain = probe_url(&args(Some("http://ringkv-0.ringkv:7777"), false)).unwrap();
        assert_eq!(plain.as_str(), "http://ringkv-0.ringkv:7777/healthcheck");
        let ready = probe_url(&args(Some("http://h:1/prefix/"), true)).unwrap();
        assert_eq!(ready.as_str(), "http://h:1/prefix/healthcheck?ready=true");
        assert!(probe_url(&args(Some("not a url"), false)).is_err());
    }
}
