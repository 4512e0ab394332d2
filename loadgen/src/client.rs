//! The HTTP side: one pooled keep-alive client shared by every task, and the items API requests.
//!
//! hyper-util's legacy client keeps idle connections per host and hands one to each request, so
//! `--clients` tasks issuing requests back to back settle on about as many connections per node.
//! Every response body is read to the end before the request counts as answered: that is part of
//! the latency, and it returns the connection to the pool.

use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::BenchError;
use crate::report::TransportError;

/// How one request ended: a status from a node, or no answer at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The node answered with this status (and the body was read in full).
    Status(StatusCode),
    /// The request or its response body failed below HTTP, or timed out.
    Transport(TransportError),
}

/// The nodes under test and the client that reaches them.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    client: Client<HttpConnector, Full<Bytes>>,
    nodes: Vec<String>,
    /// `?r=N` or empty, appended to every GET.
    read_query: String,
    /// `?w=N` or empty, appended to every PUT.
    write_query: String,
    timeout: Duration,
}

impl Cluster {
    /// A client for `nodes` (validated base URLs) with optional quorum overrides.
    pub fn new(nodes: Vec<String>, r: Option<u32>, w: Option<u32>, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self {
            client,
            nodes,
            read_query: r.map(|r| format!("?r={r}")).unwrap_or_default(),
            write_query: w.map(|w| format!("?w={w}")).unwrap_or_default(),
            timeout,
        }
    }

    /// Number of nodes requests rotate over.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// `GET /items/{key}` on node `node % len`.
    pub async fn get(&self, node: usize, key: &str) -> Result<Outcome, BenchError> {
        let request = self.request(Method::GET, node, key, &self.read_query, Bytes::new())?;
        Ok(self.send(request).await)
    }

    /// `PUT /items/{key}` with a JSON `body` on node `node % len`.
    pub async fn put(&self, node: usize, key: &str, body: Bytes) -> Result<Outcome, BenchError> {
        let request = self.request(Method::PUT, node, key, &self.write_query, body)?;
        Ok(self.send(request).await)
    }

    fn request(
        &self,
        method: Method,
        node: usize,
        key: &str,
        query: &str,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, BenchError> {
        // Bench key names are `bench-` and digits: nothing in them needs percent-encoding.
        let uri = format!("{}/items/{key}{query}", self.nodes[node % self.nodes.len()]);
        let mut builder = Request::builder().method(method).uri(uri.as_str());
        if !body.is_empty() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        builder
            .body(Full::new(body))
            .map_err(|source| BenchError::Request { uri, source })
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Outcome {
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| TransportError::classify_request(&e))?;
            let status = response.status();
            response
                .into_body()
                .collect()
                .await
                .map_err(|_| TransportError::Body)?;
            Ok(status)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(status)) => Outcome::Status(status),
            Ok(Err(e)) => Outcome::Transport(e),
            Err(_) => Outcome::Transport(TransportError::Timeout),
        }
    }
}
