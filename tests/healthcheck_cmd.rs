//! `ringkv healthcheck`, the probe of the container images (which have no curl): exit 0 when the
//! node answers `GET /healthcheck` with 200, else exit 1 with exactly one line on stderr; `--ready`
//! asks `GET /healthcheck?ready=true`; without `--url` it probes `127.0.0.1:$PORT`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::thread;

use common::{Http, Node, clean_env};

fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringkv"));
    clean_env(&mut cmd);
    cmd.arg("healthcheck")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("running ringkv healthcheck")
}

#[track_caller]
fn assert_healthy(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}, stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
}

/// Asserts exit status 1 and one stderr line; returns that line.
#[track_caller]
fn assert_unhealthy(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr:?}");
    assert!(stderr.starts_with("unhealthy: "), "{stderr:?}");
    stderr
}

#[test]
fn a_serving_node_is_healthy_and_ready() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = Node::start(dir.path(), "a", &[], Http::new());
    assert_healthy(&healthcheck(&["--url", &node.url], &[]));
    assert_healthy(&healthcheck(&["--url", &node.url, "--ready"], &[]));
    let port = node.url.rsplit(':').next().expect("a port in the URL");
    assert_healthy(&healthcheck(&[], &[("PORT", port)]));
}

#[test]
fn nothing_listening_is_unhealthy() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
        listener.local_addr().expect("address").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let line = assert_unhealthy(&healthcheck(&["--url", &url], &[]));
    assert!(line.contains(&format!("{url}/healthcheck")), "{line}");
    assert_unhealthy(&healthcheck(&["--url", "not a url"], &[]));
}

/// A node that is not ready answers 503; the lead's readiness endpoint is not merged here, so a
/// one-shot HTTP responder stands in for it and also records the request line that was sent.
#[test]
fn a_non_200_answer_is_unhealthy_and_ready_asks_for_readiness() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let responder = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accepting the probe");
        let mut reader = BufReader::new(stream.try_clone().expect("cloning the stream"));
        let mut request_line = String::new();
        reader.read_line(&mut request_line).expect("request line");
        let mut header = String::new();
        while reader.read_line(&mut header).expect("header") > 2 {
            header.clear();
        }
        let body = r#"{"detail": "not joined yet"}"#;
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("answering");
        request_line
    });
    let line = assert_unhealthy(&healthcheck(&["--url", &url, "--ready"], &[]));
    assert!(
        line.contains("503") && line.contains("not joined yet"),
        "{line}"
    );
    let request_line = responder.join().expect("responder thread");
    assert_eq!(
        request_line.trim_end(),
        "GET /healthcheck?ready=true HTTP/1.1"
    );
}
