//! The node-to-node HTTP client: one pooled keep-alive `reqwest::Client` per node, a timeout
//! on every call, and typed results. A peer's error answer is an [`RpcError::Status`], not a
//! success: the coordinator counts only real acknowledgements toward a quorum.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use ringkv_versions::VersionSet;

use super::stream::Streams;
use super::{AdoptRequest, Identity, MoveRequest, ScanRequest, wire};
use crate::background::Background;

/// Why a call to another node failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} did not answer in time")]
    Timeout { url: String },
    #[error("the connection to {url} failed after the request was sent: {reason}")]
    Interrupted { url: String, reason: String },
    #[error("{url} answered {status}: {detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("{url} sent an undecodable answer: {reason}")]
    Decode { url: String, reason: String },
}

impl RpcError {
    /// True when the request certainly did not reach the peer (safe to try another): only a
    /// failure to connect. A timeout or a connection lost after the request went out may
    /// hide a request the peer applied.
    pub fn never_sent(&self) -> bool {
        matches!(self, RpcError::Unreachable { .. })
    }
}

/// Sorts a transport failure: no connection (never sent), a timeout, or a connection lost
/// with the request possibly delivered.
fn classify(e: &reqwest::Error, url: &str) -> RpcError {
    let url = url.to_string();
    if e.is_connect() {
        RpcError::Unreachable {
            url,
            reason: e.to_string(),
        }
    } else if e.is_timeout() {
        RpcError::Timeout { url }
    } else {
        RpcError::Interrupted {
            url,
            reason: e.to_string(),
        }
    }
}

const OCTETS: &str = "application/octet-stream";
const JSON: &str = "application/json";

/// The pooled client. Cheap to clone.
#[derive(Clone)]
pub struct RpcClient {
    http: reqwest::Client,
    timeout: Duration,
    secret: Option<reqwest::header::HeaderValue>,
    /// The node's streams to its peers, which carry the hot calls (`None`: all over HTTP).
    streams: Option<Arc<Streams>>,
}

/// The routes that go over a peer's stream when it has one: the small, frequent calls. Bulk
/// transfers (scans, data movement, anti-entropy) keep their own HTTP requests, so a large
/// answer never holds up the replica calls queued behind it.
const STREAMED: [&str; 3] = ["/internal/reads", "/internal/merges", "/internal/hint"];

/// `host:port` of a URL, as a `Host` header names it.
pub(super) fn authority(url: &url::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => String::new(),
    }
}

impl RpcClient {
    /// A client whose calls time out after `timeout` and carry `secret` (if any) in the
    /// `X-Cluster-Secret` header.
    pub fn new(timeout: Duration, secret: Option<&str>) -> anyhow::Result<RpcClient> {
        let mut headers = reqwest::header::HeaderMap::new();
        let secret = match secret {
            Some(secret) => {
                let mut value = reqwest::header::HeaderValue::from_str(secret)?;
                value.set_sensitive(true);
                headers.insert(super::SECRET_HEADER, value.clone());
                Some(value)
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .pool_max_idle_per_host(512)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()?;
        Ok(RpcClient {
            http,
            timeout,
            secret,
            streams: None,
        })
    }

    /// This client, with the hot calls over one stream per peer (see [`super::stream`]) whose
    /// connections run as workers of `bg` and carry frames up to `max_frame` bytes.
    pub fn with_streams(mut self, bg: Arc<Background>, max_frame: usize) -> RpcClient {
        self.streams = Some(Arc::new(Streams::new(
            bg,
            self.timeout,
            self.secret.clone(),
            max_frame,
        )));
        self
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POSTs `body` (octets) to `path` on the peer at `base`: over its stream when the route is
    /// one of [`STREAMED`] and the peer has streams, else over HTTP.
    async fn exchange(
        &self,
        base: &str,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(StatusCode, bytes::Bytes), RpcError> {
        if let Some(streams) = self.streams.as_ref().filter(|_| STREAMED.contains(&path))
            && let Some(answer) = streams.call(base, true, path, &body, timeout).await?
        {
            return Ok(answer);
        }
        let url = format!("{base}{path}");
        self.call(reqwest::Method::POST, url, Some((body, OCTETS)), timeout)
            .await
    }

    /// [`Self::exchange`], with any status but success turned into [`RpcError::Status`].
    async fn exchange_ok(
        &self,
        base: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<bytes::Bytes, RpcError> {
        let (status, bytes) = self.exchange(base, path, body, self.timeout).await?;
        if status.is_success() {
            Ok(bytes)
        } else {
            Err(Self::fail(&format!("{base}{path}"), status, &bytes))
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<(Vec<u8>, &'static str)>,
        timeout: Duration,
    ) -> Result<(StatusCode, bytes::Bytes), RpcError> {
        let mut req = self.http.request(method, &url).timeout(timeout);
        if let Some((body, ctype)) = body {
            req = req.header(CONTENT_TYPE, ctype).body(body);
        }
        let resp = req.send().await.map_err(|e| classify(&e, &url))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| classify(&e, &url))?;
        Ok((status, bytes))
    }

    /// A call that changes nothing, to see whether the peer answers at all within `timeout`.
    pub async fn ping(&self, base: &str, timeout: Duration) -> Result<(), RpcError> {
        let url = format!("{base}/internal/ping");
        self.call_ok(reqwest::Method::GET, &url, None, timeout)
            .await?;
        Ok(())
    }

    fn fail(url: &str, status: StatusCode, body: &[u8]) -> RpcError {
        let detail = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
        RpcError::Status {
            url: url.to_string(),
            status: status.as_u16(),
            detail,
        }
    }

    fn json<T: serde::de::DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, RpcError> {
        serde_json::from_slice(body).map_err(|e| Self::undecodable(url, e))
    }

    fn undecodable(url: &str, reason: impl std::fmt::Display) -> RpcError {
        RpcError::Decode {
            url: url.to_string(),
            reason: reason.to_string(),
        }
    }

    /// `call`, with any status but success turned into [`RpcError::Status`]; the success body.
    async fn call_ok(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<(Vec<u8>, &'static str)>,
        timeout: Duration,
    ) -> Result<bytes::Bytes, RpcError> {
        let (status, bytes) = self.call(method, url.to_string(), body, timeout).await?;
        if status.is_success() {
            Ok(bytes)
        } else {
            Err(Self::fail(url, status, &bytes))
        }
    }

    /// POSTs `msg` as JSON (our own types, which always serialise); the success body.
    async fn post_json(
        &self,
        url: &str,
        msg: &impl serde::Serialize,
        timeout: Duration,
    ) -> Result<bytes::Bytes, RpcError> {
        let body = serde_json::to_vec(msg).unwrap_or_default();
        self.call_ok(reqwest::Method::POST, url, Some((body, JSON)), timeout)
            .await
    }

    /// The peer's version set of `key` (`None` when it has none).
    pub async fn read(&self, base: &str, key: &str) -> Result<Option<VersionSet>, RpcError> {
        let url = format!("{base}/internal/read");
        let body = Some((key.as_bytes().to_vec(), OCTETS));
        let (status, bytes) = self
            .call(reqwest::Method::POST, url.clone(), body, self.timeout)
            .await?;
        match status {
            StatusCode::OK => VersionSet::decode(&bytes)
                .map(Some)
                .map_err(|e| Self::undecodable(&url, e)),
            StatusCode::NOT_FOUND => Ok(None),
            other => Err(Self::fail(&url, other, &bytes)),
        }
    }

    /// Asks the peer to merge `set` (already encoded) into its copy of `key`; its answer says
    /// what its copy held before (see [`wire::MergeAck`]).
    pub async fn merge(
        &self,
        base: &str,
        key: &str,
        set: &[u8],
    ) -> Result<wire::MergeAck, RpcError> {
        let url = format!("{base}/internal/merge");
        let mut body = Vec::with_capacity(key.len() + set.len() + 8);
        wire::put_entry(&mut body, key, set);
        let bytes = self
            .call_ok(
                reqwest::Method::POST,
                &url,
                Some((body, OCTETS)),
                self.timeout,
            )
            .await?;
        wire::MergeAck::decode(&bytes).map_err(|e| Self::undecodable(&url, e))
    }

    /// Several reads (whole sets or digests) of the peer's copies in one request.
    pub async fn reads(
        &self,
        base: &str,
        reads: &[(String, wire::Want)],
    ) -> Result<Vec<wire::ReadAnswer>, RpcError> {
        let body = wire::encode_reads(reads);
        self.post_frames(base, "/internal/reads", body, wire::decode_answer)
            .await
    }

    /// Merges several `(key, encoded set)` into the peer's copies in one request (and one
    /// storage batch there); one ack per entry, in order.
    pub async fn merges(
        &self,
        base: &str,
        entries: &[(String, std::sync::Arc<Vec<u8>>)],
    ) -> Result<Vec<wire::MergeAck>, RpcError> {
        let mut body = Vec::with_capacity(entries.iter().map(|(k, s)| k.len() + s.len() + 8).sum());
        for (key, set) in entries {
            wire::put_entry(&mut body, key, set);
        }
        self.post_frames(base, "/internal/merges", body, wire::MergeAck::decode)
            .await
    }

    /// POSTs `body` (octets) to `path` on `base` and decodes the answer's frames, one `T` each.
    async fn post_frames<T, E: std::fmt::Display>(
        &self,
        base: &str,
        path: &str,
        body: Vec<u8>,
        decode: impl Fn(&[u8]) -> Result<T, E>,
    ) -> Result<Vec<T>, RpcError> {
        let bytes = self.exchange_ok(base, path, body).await?;
        let undecodable =
            |e: &dyn std::fmt::Display| Self::undecodable(&format!("{base}{path}"), e);
        let frames = wire::decode_frames(&bytes).map_err(|e| undecodable(&e))?;
        frames
            .iter()
            .map(|f| decode(f).map_err(|e| undecodable(&e)))
            .collect()
    }

    /// One page of the peer's local keys.
    pub async fn scan(
        &self,
        base: &str,
        req: &ScanRequest,
    ) -> Result<Vec<(String, VersionSet)>, RpcError> {
        let url = format!("{base}/internal/scan");
        let bytes = self.post_json(&url, req, self.timeout).await?;
        wire::decode_entries(&bytes).map_err(|e| Self::undecodable(&url, e))
    }

    /// Hands a whole write to a replica of the key, which coordinates it.
    pub async fn coordinate(
        &self,
        base: &str,
        req: &crate::coordinator::WriteRequest,
        timeout: Duration,
    ) -> Result<crate::coordinator::ForwardedOutcome, RpcError> {
        let url = format!("{base}/internal/coordinate");
        let bytes = self.post_json(&url, req, timeout).await?;
        Self::json(&url, &bytes)
    }

    /// Delivers one gossip message; the peer's replies come back.
    pub async fn gossip(
        &self,
        base: &str,
        message: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<Vec<u8>>, RpcError> {
        let url = format!("{base}/internal/gossip");
        let bytes = self
            .call_ok(
                reqwest::Method::POST,
                &url,
                Some((message, OCTETS)),
                timeout,
            )
            .await?;
        wire::decode_frames(&bytes).map_err(|e| Self::undecodable(&url, e))
    }

    /// Who the peer is and which members it knows.
    pub async fn identity(&self, base: &str) -> Result<Identity, RpcError> {
        let url = format!("{base}/internal/identity");
        let bytes = self
            .call_ok(reqwest::Method::GET, &url, None, self.timeout)
            .await?;
        Self::json(&url, &bytes)
    }

    /// Asks the peer to join the cluster of `req.seeds`.
    pub async fn adopt(&self, base: &str, req: &AdoptRequest) -> Result<Identity, RpcError> {
        let url = format!("{base}/internal/adopt");
        let bytes = self.post_json(&url, req, self.timeout * 3).await?;
        Self::json(&url, &bytes)
    }

    /// One page of the keys the peer must send `req.target` for a change of ownership.
    pub async fn move_page(
        &self,
        base: &str,
        req: &MoveRequest,
    ) -> Result<wire::MovePage, RpcError> {
        let url = format!("{base}/internal/move");
        let bytes = self.post_json(&url, req, self.timeout * 5).await?;
        wire::MovePage::decode(&bytes).map_err(|e| Self::undecodable(&url, e))
    }

    /// Asks the peer to keep `set` (encoded) of `key` as a hint for replica `owner`.
    pub async fn hint(
        &self,
        base: &str,
        owner: &str,
        key: &str,
        set: &[u8],
    ) -> Result<(), RpcError> {
        let body = wire::encode_hint(owner, key, set);
        self.exchange_ok(base, "/internal/hint", body).await?;
        Ok(())
    }

    /// POSTs raw bytes (`json`: as JSON) to `url`; the success body (anti-entropy's calls,
    /// whose messages are built and decoded in `anti_entropy::exchange`).
    pub async fn post_bytes(
        &self,
        url: &str,
        body: Vec<u8>,
        json: bool,
    ) -> Result<bytes::Bytes, RpcError> {
        let ctype = if json { JSON } else { OCTETS };
        self.call_ok(
            reqwest::Method::POST,
            url,
            Some((body, ctype)),
            self.timeout,
        )
        .await
    }

    /// Merges many `(key, encoded set)` entries into the peer's copies.
    pub async fn merge_batch(
        &self,
        base: &str,
        entries: &[(String, Vec<u8>)],
    ) -> Result<(), RpcError> {
        let url = format!("{base}/internal/merge-batch");
        let mut body = Vec::with_capacity(entries.iter().map(|(k, s)| k.len() + s.len() + 8).sum());
        for (key, set) in entries {
            wire::put_entry(&mut body, key, set);
        }
        self.call_ok(
            reqwest::Method::POST,
            &url,
            Some((body, OCTETS)),
            self.timeout * 5,
        )
        .await?;
        Ok(())
    }

    /// Asks member `id` at `base` to leave the cluster (`DELETE /peers/{id}`); it hands off its
    /// data first, which may take a while.
    pub async fn leave(&self, base: &str, id: &str, timeout: Duration) -> Result<(), RpcError> {
        let mut url = url::Url::parse(base).map_err(|e| RpcError::Unreachable {
            url: base.to_string(),
            reason: e.to_string(),
        })?;
        url.path_segments_mut()
            .map_err(|()| RpcError::Unreachable {
                url: base.to_string(),
                reason: "bad base".into(),
            })?
            .pop_if_empty()
            .push("peers")
            .push(id);
        self.call_ok(reqwest::Method::DELETE, url.as_str(), None, timeout)
            .await?;
        Ok(())
    }

    /// `GET /healthcheck` on the peer.
    pub async fn health(&self, base: &str) -> Result<(), RpcError> {
        let url = format!("{base}/healthcheck");
        self.call_ok(reqwest::Method::GET, &url, None, self.timeout)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    /// A server that reads a request and closes the connection without answering (a
    /// coordinator that crashed mid-request): the request may have been applied, so the
    /// error must not say "never sent" (a forwarded append would be applied twice).
    #[tokio::test]
    async fn a_connection_lost_after_sending_is_not_never_sent() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            drop(conn);
        });
        let rpc = RpcClient::new(Duration::from_secs(5), None).unwrap();
        let err = rpc.identity(&url).await.unwrap_err();
        assert!(!err.never_sent(), "{err:?}");
        server.join().unwrap();

        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let err = rpc.identity(&url).await.unwrap_err();
        assert!(err.never_sent(), "nothing listens: never sent: {err:?}");
    }
}
