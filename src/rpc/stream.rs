//! Node-to-node streams: one long-lived, multiplexed connection per peer for the hot internal
//! calls (replica reads, merges, hints), instead of one HTTP request per call.
//!
//! Under load every coordinator sends each replica a stream of small batched calls. Over
//! pooled HTTP/1.1 each cost a request's encoding and parsing on both sides, the client's
//! URL parsing, pool, redirect and retry layers, and the server's connection handling; the
//! profile of a 3-node cluster under GETs put a quarter of the coordinator's CPU there. A
//! stream carries the same calls as small frames with request ids, answered in any order,
//! with every frame queued while the writer is busy leaving in one write (Cassandra's
//! messaging service and Raft transports do the same).
//!
//! **Handshake.** The client opens a TCP connection to the peer's public port and sends
//! `GET /internal/stream` with `Connection: upgrade`, `Upgrade: ringkv-rpc/1` and the cluster
//! secret, if any (hyper's client connection and upgrade support). The server checks the
//! secret like any internal route and answers `101 Switching Protocols`; both sides then
//! speak frames. A peer that answers 404 or 405 does not know streams (an older version
//! during a rolling upgrade): calls to it go over HTTP for [`HTTP_ONLY_FOR`], then the
//! handshake is tried again.
//!
//! **Frames** (each behind a `u32` BE length, `tokio_util`'s length-delimited codec, with the
//! internal routes' body limit as the largest frame):
//! ```text
//! request  := id: u64 BE | method: u8 (0 GET, 1 POST) | path_len: u16 BE | path: UTF-8 | body
//! response := id: u64 BE | status: u16 BE | body
//! ```
//! A request names an `/internal/...` route and carries that route's body; the server runs it
//! through the same internal router (admission limit, timeout and metrics per call, as over
//! HTTP) and answers its status and body. Ids are the client's, unique per connection.
//!
//! **Failures.** Every call has a deadline. A connection that fails, closes, or sends an
//! undecodable frame ends: the calls waiting on it fail as interrupted (the request may have
//! been applied), and the next call connects again. A call that times out while its connection
//! has heard nothing for as long ends the connection too, so a peer behind a partition or
//! paused is reconnected to once it is back instead of being waited on forever. Connect
//! failures are "never sent".
//!
//! Invariants: every call gets exactly one answer (its response, or an error); every queue is
//! bounded; each connection is one supervised worker on each side (reading and writing
//! concurrently in one task, so a side blocked writing still reads).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::{Sink, SinkExt};
use http_body_util::Empty;
use hyper::StatusCode;
use hyper::header::{CONNECTION, HOST, HeaderValue, UPGRADE};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

use super::RpcError;
use super::wire::WireError;
use crate::background::Background;

/// The route a stream is opened on.
pub const PATH: &str = "/internal/stream";
/// The protocol named in the `Upgrade` header.
pub const PROTOCOL: &str = "ringkv-rpc/1";
/// How long a peer that does not know streams is called over HTTP before trying again.
pub const HTTP_ONLY_FOR: Duration = Duration::from_secs(60);
/// Frames queued for one connection's writer before callers wait.
const QUEUE: usize = 1024;
/// Requests one server connection runs at once before it stops reading more.
const IN_FLIGHT: usize = 256;

/// What the caller of a route gets back: its status and body.
pub type Answer = (StatusCode, Bytes);

/// Runs one request on the server: `(post, path, body)` to the route's status and body.
pub type Dispatch =
    Arc<dyn Fn(bool, String, Bytes) -> Pin<Box<dyn Future<Output = Answer> + Send>> + Send + Sync>;

fn codec(max_frame: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(max_frame.saturating_add(1024))
        .new_codec()
}

fn encode_request(id: u64, post: bool, path: &str, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(11 + path.len() + body.len());
    out.put_u64(id);
    out.put_u8(u8::from(post));
    out.put_u16(path.len() as u16);
    out.put_slice(path.as_bytes());
    out.put_slice(body);
    out.freeze()
}

/// A request frame: `(id, post, path, body)`.
fn decode_request(mut frame: Bytes) -> Result<(u64, bool, String, Bytes), WireError> {
    if frame.len() < 11 {
        return Err(WireError::Truncated(frame.len()));
    }
    let id = frame.get_u64();
    let post = match frame.get_u8() {
        0 => false,
        1 => true,
        _ => return Err(WireError::Truncated(8)),
    };
    let len = usize::from(frame.get_u16());
    if frame.len() < len {
        return Err(WireError::Truncated(11));
    }
    let path = frame.split_to(len);
    let path = String::from_utf8(path.to_vec()).map_err(|_| WireError::Utf8(11))?;
    Ok((id, post, path, frame))
}

fn encode_response(id: u64, status: StatusCode, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(10 + body.len());
    out.put_u64(id);
    out.put_u16(status.as_u16());
    out.put_slice(body);
    out.freeze()
}

/// A response frame: `(id, status, body)`.
fn decode_response(mut frame: Bytes) -> Result<(u64, StatusCode, Bytes), WireError> {
    if frame.len() < 10 {
        return Err(WireError::Truncated(frame.len()));
    }
    let id = frame.get_u64();
    let status = StatusCode::from_u16(frame.get_u16()).map_err(|_| WireError::Truncated(8))?;
    Ok((id, status, frame))
}

/// Writes what `rx` hands over: everything queued goes out in one flush.
async fn write_frames<W>(mut sink: W, mut rx: mpsc::Receiver<Bytes>) -> std::io::Result<()>
where
    W: Sink<Bytes, Error = std::io::Error> + Unpin,
{
    while let Some(frame) = rx.recv().await {
        sink.feed(frame).await?;
        while let Ok(more) = rx.try_recv() {
            sink.feed(more).await?;
        }
        sink.flush().await?;
    }
    sink.close().await
}

type Waiter = oneshot::Sender<Result<Answer, RpcError>>;

/// One open connection to a peer, as its callers see it.
struct Link {
    url: String,
    out: mpsc::Sender<Bytes>,
    waiting: Mutex<HashMap<u64, Waiter>>,
    next_id: AtomicU64,
    /// Cancelled when the connection ends (either side, any reason).
    closed: CancellationToken,
    /// When a frame last arrived (ms since `epoch`).
    heard_ms: AtomicU64,
    epoch: Instant,
}

impl Link {
    fn heard(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.heard_ms.store(ms, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.heard_ms.load(Ordering::Relaxed)))
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waiter>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the connection: every call still waiting fails as interrupted.
    fn close(&self, reason: &str) {
        self.closed.cancel();
        let waiting: Vec<Waiter> = self.waiters().drain().map(|(_, w)| w).collect();
        for w in waiting {
            let _ = w.send(Err(RpcError::Interrupted {
                url: self.url.clone(),
                reason: reason.to_string(),
            }));
        }
    }

    async fn call(
        &self,
        post: bool,
        path: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Answer, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters().insert(id, tx);
        let frame = encode_request(id, post, path, body);
        let url = || format!("{}{path}", self.url);
        let exchange = async {
            if self.out.send(frame).await.is_err() {
                return Err(RpcError::Unreachable {
                    url: url(),
                    reason: "the stream closed before the request was sent".into(),
                });
            }
            rx.await.unwrap_or_else(|_| {
                Err(RpcError::Interrupted {
                    url: url(),
                    reason: "the stream closed".into(),
                })
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(answer) => {
                self.waiters().remove(&id);
                answer
            }
            Err(_) => {
                self.waiters().remove(&id);
                if self.silent_for() >= timeout {
                    // Nothing at all came back for a whole timeout: a partition or a paused
                    // peer. Reconnect once it answers again rather than keep waiting here.
                    self.close("the peer went silent");
                }
                Err(RpcError::Timeout { url: url() })
            }
        }
    }
}

/// Reads answers and hands each to its caller, until the connection ends.
async fn read_answers<R: AsyncRead + Unpin>(
    link: &Link,
    mut frames: FramedRead<R, LengthDelimitedCodec>,
) {
    let reason = loop {
        let frame = tokio::select! {
            () = link.closed.cancelled() => break "the stream was closed".to_string(),
            frame = frames.next() => frame,
        };
        match frame {
            Some(Ok(frame)) => match decode_response(frame.freeze()) {
                Ok((id, status, body)) => {
                    link.heard();
                    if let Some(w) = link.waiters().remove(&id) {
                        let _ = w.send(Ok((status, body)));
                    }
                }
                Err(e) => break format!("undecodable answer: {e}"),
            },
            Some(Err(e)) => break format!("reading the stream: {e}"),
            None => break "the peer closed the stream".to_string(),
        }
    };
    link.close(&reason);
}

/// What a peer's slot holds.
#[derive(Default)]
struct Slot {
    link: Mutex<Option<Arc<Link>>>,
    /// Held while connecting, so concurrent callers share one attempt.
    connecting: tokio::sync::Mutex<()>,
    /// Until when the peer is called over HTTP (it does not know streams).
    http_only_until: Mutex<Option<Instant>>,
}

impl Slot {
    fn open_link(&self) -> Option<Arc<Link>> {
        let link = self.link.lock().unwrap_or_else(|p| p.into_inner());
        link.as_ref().filter(|l| !l.closed.is_cancelled()).cloned()
    }

    fn http_only(&self) -> bool {
        let until = self
            .http_only_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        until.is_some_and(|u| Instant::now() < u)
    }
}

/// What a connection attempt found.
enum Opened {
    Link(Arc<Link>),
    /// The peer does not know streams.
    HttpOnly,
}

/// The client side: one stream per peer, opened on first use.
pub struct Streams {
    secret: Option<HeaderValue>,
    timeout: Duration,
    max_frame: usize,
    bg: Arc<Background>,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

impl Streams {
    /// Streams whose connections run as workers of `bg`, connect within `timeout`, carry
    /// `secret` in the handshake, and take frames up to `max_frame` bytes.
    pub fn new(
        bg: Arc<Background>,
        timeout: Duration,
        secret: Option<HeaderValue>,
        max_frame: usize,
    ) -> Streams {
        Streams {
            secret,
            timeout,
            max_frame,
            bg,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, base: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(base.to_string()).or_default().clone()
    }

    /// Calls `path` on the peer at `base` over its stream. `Ok(None)`: the peer does not know
    /// streams (call it over HTTP).
    pub async fn call(
        &self,
        base: &str,
        post: bool,
        path: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Option<Answer>, RpcError> {
        let slot = self.slot(base);
        if slot.http_only() {
            return Ok(None);
        }
        let link = match slot.open_link() {
            Some(link) => link,
            None => match self.open(base, &slot).await? {
                Opened::Link(link) => link,
                Opened::HttpOnly => return Ok(None),
            },
        };
        link.call(post, path, body, timeout).await.map(Some)
    }

    /// The slot's link, connecting if nobody else did meanwhile.
    async fn open(&self, base: &str, slot: &Slot) -> Result<Opened, RpcError> {
        let _connecting = slot.connecting.lock().await;
        if let Some(link) = slot.open_link() {
            return Ok(Opened::Link(link));
        }
        if slot.http_only() {
            return Ok(Opened::HttpOnly);
        }
        if self.bg.is_stopping() {
            return Err(RpcError::Unreachable {
                url: base.to_string(),
                reason: "the node is shutting down".into(),
            });
        }
        let io = match tokio::time::timeout(self.timeout, self.handshake(base)).await {
            Ok(Ok(Some(io))) => io,
            Ok(Ok(None)) => {
                tracing::info!(peer = %base, "the peer does not speak streams; calling it over HTTP");
                *slot
                    .http_only_until
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + HTTP_ONLY_FOR);
                return Ok(Opened::HttpOnly);
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(RpcError::Unreachable {
                    url: base.to_string(),
                    reason: "no stream within the timeout".into(),
                });
            }
        };
        let (out, rx) = mpsc::channel(QUEUE);
        let link = Arc::new(Link {
            url: base.to_string(),
            out,
            waiting: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            closed: CancellationToken::new(),
            heard_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        });
        let (rd, wr) = tokio::io::split(io);
        let frames = FramedRead::new(rd, codec(self.max_frame));
        let sink = FramedWrite::new(wr, codec(self.max_frame));
        let running = link.clone();
        self.bg
            .worker(format!("stream to {base}"), move |token| async move {
                let link = running;
                let stop = async {
                    tokio::select! {
                        () = token.cancelled() => link.close("the node is shutting down"),
                        () = link.closed.cancelled() => {}
                    }
                };
                let write = async {
                    let stopped = link.closed.clone();
                    tokio::select! {
                        () = stopped.cancelled() => {}
                        written = write_frames(sink, rx) => if let Err(e) = written {
                            link.close(&format!("writing the stream: {e}"));
                        },
                    }
                };
                tokio::join!(stop, write, read_answers(&link, frames));
            });
        if self.bg.is_stopping() {
            link.close("the node is shutting down");
        }
        *slot.link.lock().unwrap_or_else(|p| p.into_inner()) = Some(link.clone());
        Ok(Opened::Link(link))
    }

    /// Connects and upgrades; `None` when the peer answers that it has no stream route.
    async fn handshake(
        &self,
        base: &str,
    ) -> Result<Option<TokioIo<hyper::upgrade::Upgraded>>, RpcError> {
        let unreachable = |reason: String| RpcError::Unreachable {
            url: base.to_string(),
            reason,
        };
        let url = url::Url::parse(base).map_err(|e| unreachable(e.to_string()))?;
        let host = url
            .host_str()
            .ok_or_else(|| unreachable("no host".into()))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tcp.set_nodelay(true)
            .map_err(|e| unreachable(e.to_string()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let mut req = hyper::Request::get(PATH)
            .header(HOST, super::client::authority(&url))
            .header(CONNECTION, "upgrade")
            .header(UPGRADE, PROTOCOL)
            .body(Empty::<Bytes>::new())
            .map_err(|e| unreachable(e.to_string()))?;
        if let Some(secret) = &self.secret {
            req.headers_mut()
                .insert(super::SECRET_HEADER, secret.clone());
        }
        // The connection runs here, beside the request: it resolves once the upgrade took the
        // connection (possibly before the response future is polled again), or on failure.
        let mut conn = conn.with_upgrades();
        let answer = sender.send_request(req);
        tokio::pin!(answer);
        let mut ended = None;
        let resp = loop {
            tokio::select! {
                resp = &mut answer => break resp.map_err(|e| unreachable(e.to_string()))?,
                done = &mut conn, if ended.is_none() => ended = Some(done),
            }
        };
        if let Some(Err(e)) = &ended {
            return Err(unreachable(format!("the handshake failed: {e}")));
        }
        match resp.status() {
            StatusCode::SWITCHING_PROTOCOLS => {}
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => return Ok(None),
            status => {
                return Err(RpcError::Status {
                    url: format!("{base}{PATH}"),
                    status: status.as_u16(),
                    detail: "the stream handshake was refused".into(),
                });
            }
        }
        let upgraded = match ended {
            Some(_) => hyper::upgrade::on(resp).await,
            None => tokio::join!(hyper::upgrade::on(resp), conn).0,
        };
        let upgraded = upgraded.map_err(|e| unreachable(e.to_string()))?;
        Ok(Some(TokioIo::new(upgraded)))
    }
}

/// The server side of one stream: reads requests, runs up to [`IN_FLIGHT`] of them at once
/// through `dispatch`, and writes each answer as it is ready, until the peer closes the stream
/// or `token` fires (then the requests already running finish and are answered first).
pub async fn serve<IO>(io: IO, dispatch: Dispatch, max_frame: usize, token: CancellationToken)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, wr) = tokio::io::split(io);
    let mut frames = FramedRead::new(rd, codec(max_frame));
    let sink = FramedWrite::new(wr, codec(max_frame));
    let (out, rx) = mpsc::channel::<Bytes>(QUEUE);
    let answer = |id: u64, dispatched: Pin<Box<dyn Future<Output = Answer> + Send>>| async move {
        let (status, body) = dispatched.await;
        encode_response(id, status, &body)
    };
    let read = async move {
        let mut running = FuturesUnordered::new();
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                Some(frame) = running.next(), if !running.is_empty() => {
                    if out.send(frame).await.is_err() {
                        return;
                    }
                }
                frame = frames.next(), if running.len() < IN_FLIGHT => {
                    let Some(Ok(frame)) = frame else { break };
                    match decode_request(frame.freeze()) {
                        Ok((id, post, path, body)) => {
                            running.push(answer(id, dispatch(post, path, body)));
                        }
                        Err(e) => {
                            tracing::warn!("undecodable stream request, closing the stream: {e}");
                            break;
                        }
                    }
                }
            }
        }
        while let Some(frame) = running.next().await {
            if out.send(frame).await.is_err() {
                return;
            }
        }
    };
    let write = async move {
        if let Err(e) = write_frames(sink, rx).await {
            tracing::debug!("writing a stream: {e}");
        }
    };
    tokio::join!(read, write);
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn frames_round_trip_and_truncations_are_errors() {
        let req = encode_request(7, true, "/internal/reads", b"body");
        let (id, post, path, body) = decode_request(req.clone()).unwrap();
        assert_eq!(
            (id, post, path.as_str(), &body[..]),
            (7, true, "/internal/reads", &b"body"[..])
        );
        for cut in 0..req.len() - 4 {
            assert!(
                decode_request(req.slice(..cut)).is_err(),
                "request cut at {cut}"
            );
        }
        let resp = encode_response(9, StatusCode::NOT_FOUND, b"");
        let (id, status, body) = decode_response(resp.clone()).unwrap();
        assert_eq!((id, status, body.len()), (9, StatusCode::NOT_FOUND, 0));
        for cut in 0..resp.len() {
            assert!(
                decode_response(resp.slice(..cut)).is_err(),
                "response cut at {cut}"
            );
        }
        let mut bad = BytesMut::from(&resp[..]);
        bad[8] = 0xff;
        bad[9] = 0xff;
        assert!(decode_response(bad.freeze()).is_err(), "status 65535");
    }

    fn streams(timeout: Duration) -> Streams {
        Streams::new(Arc::new(Background::new()), timeout, None, 1 << 20)
    }

    /// A peer that speaks streams: `/internal/stream` upgrades and serves `dispatch`; the
    /// counter counts handshakes. (Test servers, not node work: spawned directly.)
    async fn peer(dispatch: Dispatch, handshakes: Arc<AtomicUsize>) -> String {
        let app = axum::Router::new().route(
            PATH,
            axum::routing::get(move |mut req: axum::extract::Request| {
                let (dispatch, handshakes) = (dispatch.clone(), handshakes.clone());
                async move {
                    handshakes.fetch_add(1, Ordering::SeqCst);
                    let upgrade = hyper::upgrade::on(&mut req);
                    tokio::spawn(async move {
                        let io = TokioIo::new(upgrade.await.expect("upgrade"));
                        serve(io, dispatch, 1 << 20, CancellationToken::new()).await;
                    });
                    (
                        StatusCode::SWITCHING_PROTOCOLS,
                        [(CONNECTION, "upgrade"), (UPGRADE, PROTOCOL)],
                    )
                }
            }),
        );
        serve_app(app).await
    }

    async fn serve_app(app: axum::Router) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// Answers `path:body` after sleeping the milliseconds the body names.
    fn echo_after_delay() -> Dispatch {
        Arc::new(|_post, path, body| {
            Box::pin(async move {
                let ms: u64 = std::str::from_utf8(&body).unwrap().parse().unwrap();
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let text = format!("{path}:{ms}");
                (StatusCode::OK, Bytes::from(text))
            })
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_calls_share_one_stream_and_each_gets_its_own_answer() {
        let handshakes = Arc::new(AtomicUsize::new(0));
        let url = peer(echo_after_delay(), handshakes.clone()).await;
        let streams = streams(Duration::from_secs(5));
        let calls = (0..64u64).map(|i| {
            let (streams, url) = (&streams, &url);
            async move {
                // Later calls answer sooner: answers come back out of order.
                let ms = (64 - i) % 16;
                let answer = streams
                    .call(
                        url,
                        true,
                        "/internal/x",
                        ms.to_string().as_bytes(),
                        Duration::from_secs(5),
                    )
                    .await
                    .unwrap()
                    .expect("the peer speaks streams");
                assert_eq!(
                    answer,
                    (StatusCode::OK, Bytes::from(format!("/internal/x:{ms}")))
                );
            }
        });
        futures::future::join_all(calls).await;
        assert_eq!(
            handshakes.load(Ordering::SeqCst),
            1,
            "one stream for every call"
        );
    }

    #[tokio::test]
    async fn a_peer_without_streams_is_called_over_http() {
        let url = serve_app(axum::Router::new()).await;
        let streams = streams(Duration::from_secs(5));
        let answer = streams
            .call(&url, true, "/internal/reads", b"", Duration::from_secs(5))
            .await
            .unwrap();
        assert!(answer.is_none(), "404 on the handshake: use HTTP");
    }

    /// A raw peer: accepts, agrees to the upgrade, reads one frame, then runs `then` on the
    /// connection. Counts its connections.
    async fn raw_peer<F, Fut>(then: F) -> (String, Arc<AtomicUsize>)
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let then = then.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    while !head.ends_with(b"\r\n\r\n") {
                        let mut byte = [0u8; 1];
                        if conn.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let agreed = "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ringkv-rpc/1\r\n\r\n";
                    conn.write_all(agreed.as_bytes()).await.unwrap();
                    let mut len = [0u8; 4];
                    conn.read_exact(&mut len).await.unwrap();
                    let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
                    conn.read_exact(&mut frame).await.unwrap();
                    then(conn).await;
                });
            }
        });
        (url, accepted)
    }

    #[tokio::test]
    async fn a_stream_lost_after_the_request_went_out_is_not_never_sent() {
        let (url, accepted) = raw_peer(|conn| async move { drop(conn) }).await;
        let streams = streams(Duration::from_secs(5));
        for round in 1..=2 {
            let err = streams
                .call(&url, true, "/internal/merges", b"x", Duration::from_secs(5))
                .await
                .unwrap_err();
            assert!(matches!(err, RpcError::Interrupted { .. }), "{err:?}");
            assert!(!err.never_sent(), "the peer may have applied it: {err:?}");
            assert_eq!(
                accepted.load(Ordering::SeqCst),
                round,
                "the next call reconnects"
            );
        }
    }

    #[tokio::test]
    async fn a_silent_peer_times_out_and_the_next_call_reconnects() {
        let (url, accepted) = raw_peer(|conn| async move {
            // Holds the connection open and never answers (a paused or cut-off peer).
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(conn);
        })
        .await;
        let streams = streams(Duration::from_secs(5));
        for round in 1..=2 {
            let started = Instant::now();
            let err = streams
                .call(
                    &url,
                    true,
                    "/internal/reads",
                    b"x",
                    Duration::from_millis(200),
                )
                .await
                .unwrap_err();
            assert!(matches!(err, RpcError::Timeout { .. }), "{err:?}");
            assert!(started.elapsed() < Duration::from_secs(5));
            assert_eq!(
                accepted.load(Ordering::SeqCst),
                round,
                "a silent stream is dropped"
            );
        }
    }

    #[tokio::test]
    async fn nothing_listening_is_never_sent() {
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let err = streams(Duration::from_secs(5))
            .call(&url, true, "/internal/reads", b"x", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.never_sent(), "{err:?}");
    }
}
