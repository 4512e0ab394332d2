//! The blocking HTTP client of the tests: [`Http`] sends requests, [`Resp`] holds a whole answer
//! (status, headers, body) and checks API.md's error shape `{"detail": "..."}`.

use std::time::Duration;

use serde_json::Value;

/// One HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Resp {
    /// The body parsed as JSON; panics (showing the body) if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {:?}",
                self.status, self.body
            )
        })
    }

    /// The `X-Context` header, if any.
    pub fn context(&self) -> Option<String> {
        self.header("x-context")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Asserts the status and returns `self`, showing the body on mismatch.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    /// Asserts this is an error of `status` with a JSON body `{"detail": "<non-empty string>"}`
    /// and returns the detail.
    #[track_caller]
    pub fn expect_error(&self, status: u16) -> String {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.error_detail()
    }

    /// Asserts this is a 503 for a quorum not reached whose detail names exactly how many of the
    /// asked replicas answered and how many were needed (API.md), as [`quorum_detail`] words it.
    #[track_caller]
    pub fn expect_quorum_error(&self, op: &str, got: usize, asked: usize, needed: usize) {
        let detail = self.expect_error(503);
        assert_eq!(detail, quorum_detail(op, got, asked, needed), "503 detail");
    }

    /// Asserts the body is `{"detail": "<non-empty string>"}` (JSON content type) and returns the detail.
    #[track_caller]
    pub fn error_detail(&self) -> String {
        self.check_error_body()
            .unwrap_or_else(|why| panic!("{why}"))
    }

    /// `Ok(detail)` if the body is `{"detail": "<non-empty string>"}` with a JSON content type.
    pub fn check_error_body(&self) -> Result<String, String> {
        let ct = self.header("content-type").unwrap_or_default();
        if !ct.starts_with("application/json") {
            return Err(format!(
                "status {} error has content-type {ct:?}, not JSON; body: {:.200}",
                self.status, self.body
            ));
        }
        let body: Value = serde_json::from_str(&self.body)
            .map_err(|e| format!("status {} error body is not JSON ({e})", self.status))?;
        match body.get("detail").and_then(Value::as_str) {
            Some(detail) if !detail.trim().is_empty() => Ok(detail.to_owned()),
            _ => Err(format!(
                "status {} error body has no non-empty string \"detail\": {body}",
                self.status
            )),
        }
    }
}

/// The `detail` of a 503 when a quorum was not reached: `op` is `read`, `write` or
/// `write (context read)` (the read a DELETE, append or conditional write does first).
pub fn quorum_detail(op: &str, got: usize, asked: usize, needed: usize) -> String {
    format!("{op} quorum not reached: {got} of {asked} replicas answered in time, {needed} needed")
}

/// A blocking HTTP client shared by a test (cheap to clone: pooled connections inside).
#[derive(Clone)]
pub struct Http {
    client: reqwest::blocking::Client,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Self {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .expect("building the HTTP client");
        Self { client }
    }

    /// Sends one request; `Err` on transport failure (refused, reset, timeout).
    pub fn try_send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Resp, reqwest::Error> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut req = self.client.request(method, url);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send()?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text()?;
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    /// Sends one request with a raw body; panics on transport failure.
    #[track_caller]
    pub fn raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        self.try_send(method, url, headers, body)
            .unwrap_or_else(|e| panic!("{method} {url} failed: {e}"))
    }

    /// Sends one request with a JSON body (content type set); panics on transport failure.
    #[track_caller]
    pub fn json(&self, method: &str, url: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.raw(method, url, &all, Some(body.to_string().into_bytes()))
    }

    #[track_caller]
    pub fn get(&self, url: &str) -> Resp {
        self.raw("GET", url, &[], None)
    }
}
