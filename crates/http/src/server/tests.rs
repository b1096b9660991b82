//! The server's protections against oversized and slow clients, exercised over raw TCP so the
//! test controls every byte and every pause.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use bars_fhir::codes::BarsCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::fhir_json::read_body_within;

/// Long enough that a healthy test never meets it; it only turns a hang into a failure.
const HANG: Duration = Duration::from_secs(30);

fn app() -> Router {
    Router::new().route("/ok", get(|| async { "fine" })).route(
        "/echo",
        post(|body: Body| async move {
            match read_body_within(
                body,
                1024,
                BarsCode::RecBadRequest,
                Duration::from_millis(300),
            )
            .await
            {
                Ok(bytes) => bytes.into_response(),
                Err(e) => e.into_response(),
            }
        }),
    )
}

async fn start(options: ServerOptions) -> RunningServer {
    RunningServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), app(), options)
        .await
        .unwrap()
}

/// A parsed response: status, lower-cased head, body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Reads one response (head and a Content-Length body) or whatever arrives before the server
/// closes the connection.
async fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                let status = head.split(' ').nth(1)?.parse().ok()?;
                let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).into();
                return Some(Answer { status, head, body });
            }
        }
        let n = tokio::time::timeout(HANG, stream.read(&mut chunk))
            .await
            .expect("the server neither answered nor closed")
            .ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn send(addr: SocketAddr, request: &[u8]) -> Option<Answer> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_answer(&mut stream).await
}

/// True when the server closes the connection (rather than answering) within [`HANG`].
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(HANG, stream.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

const IDS: &str = "X-Request-ID: 60f8a1ab-0b6f-4e0a-9d7b-1bd2b1a4a3c1\r\n";

fn assert_outcome(answer: &Answer, status: u16, diagnostics: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert!(
        answer.body.contains("\"OperationOutcome\""),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("REC_BAD_REQUEST"), "{}", answer.body);
    assert!(answer.body.contains(diagnostics), "{}", answer.body);
}

/// A refusal made by the server itself carries what the transport layer would have added.
fn assert_refusal(answer: &Answer, status: u16, diagnostics: &str) {
    assert_outcome(answer, status, diagnostics);
    assert!(
        answer.head.contains("cache-control: no-store"),
        "{}",
        answer.head
    );
    assert!(answer.head.contains("x-content-type-options: nosniff"));
    assert!(
        answer
            .head
            .contains("x-request-id: 60f8a1ab-0b6f-4e0a-9d7b-1bd2b1a4a3c1")
    );
}

#[tokio::test]
async fn an_oversized_request_target_is_414_with_an_operation_outcome() {
    let server = start(ServerOptions::default()).await;
    let long = format!(
        "GET /ok?q={} HTTP/1.1\r\nHost: x\r\n{IDS}\r\n",
        "a".repeat(9 * 1024)
    );
    let answer = send(server.addr, long.as_bytes()).await.unwrap();
    assert_refusal(&answer, 414, "request target is longer than the limit");
    // Just under the limit is served.
    let fits = format!(
        "GET /ok?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(8 * 1024 - 20)
    );
    assert_eq!(
        send(server.addr, fits.as_bytes()).await.unwrap().status,
        200
    );
}

#[tokio::test]
async fn oversized_headers_are_431_with_an_operation_outcome() {
    let server = start(ServerOptions::default()).await;
    let big = format!(
        "GET /ok HTTP/1.1\r\nHost: x\r\n{IDS}X-Padding: {}\r\n\r\n",
        "b".repeat(17 * 1024)
    );
    let answer = send(server.addr, big.as_bytes()).await.unwrap();
    assert_refusal(&answer, 431, "headers are larger than the limit");

    let many: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET /ok HTTP/1.1\r\nHost: x\r\n{IDS}{many}\r\n");
    let answer = send(server.addr, many.as_bytes()).await.unwrap();
    assert_refusal(&answer, 431, "more than the limit of 100 header fields");
}

#[tokio::test]
async fn a_head_beyond_the_read_buffer_is_cut_off_and_the_server_carries_on() {
    let server = start(ServerOptions::default()).await;
    let huge = format!(
        "GET /ok HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        "c".repeat(HeadLimits::default().read_buffer() + 1024)
    );
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The server may stop reading (and close) before the whole head is written.
    let _ = stream.write_all(huge.as_bytes()).await;
    if let Some(answer) = read_answer(&mut stream).await {
        assert_eq!(answer.status, 431);
    }
    let ok = send(server.addr, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(ok.unwrap().body, "fine");
}

/// A connection to a server that gives clients 300 ms to send a head.
async fn impatient_connection() -> (RunningServer, TcpStream) {
    let server = start(ServerOptions {
        header_read_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    })
    .await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    (server, stream)
}

#[tokio::test]
async fn a_client_that_never_finishes_its_head_is_disconnected() {
    let (_server, mut stream) = impatient_connection().await;
    stream
        .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(closed_by_server(&mut stream).await);
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let (_server, mut stream) = impatient_connection().await;
    stream
        .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_answer(&mut stream).await.unwrap().body, "fine");
    // Kept alive, then silent: the connection (and its slot under the cap) is given back.
    assert!(closed_by_server(&mut stream).await);
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let (_server, mut stream) = impatient_connection().await;
    assert!(closed_by_server(&mut stream).await);
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_is_released() {
    let server = start(ServerOptions {
        max_connections: 2,
        ..ServerOptions::default()
    })
    .await;
    let request = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(request).await.unwrap();
        assert_eq!(read_answer(&mut s).await.unwrap().status, 200);
        held.push(s);
    }
    // The third is accepted by the kernel but not served while two are open.
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third.write_all(request).await.unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), third.read(&mut byte)).await;
    assert!(early.is_err(), "served beyond the connection cap");
    // Closing one lets it through.
    drop(held.pop());
    let answer = read_answer(&mut third).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "fine");
}

#[tokio::test]
async fn an_announced_body_over_the_limit_is_refused_before_it_is_sent() {
    let server = start(ServerOptions::default()).await;
    // Only the head is sent: the refusal must not wait for a megabyte that never comes.
    let head = format!("POST /echo HTTP/1.1\r\nHost: x\r\n{IDS}Content-Length: 1048576\r\n\r\n");
    let answer = send(server.addr, head.as_bytes()).await.unwrap();
    assert_outcome(&answer, 413, "larger than the limit of 1024 bytes");
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_408() {
    let server = start(ServerOptions::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            format!("POST /echo HTTP/1.1\r\nHost: x\r\n{IDS}Content-Length: 10\r\n\r\nabc")
                .as_bytes(),
        )
        .await
        .unwrap();
    let answer = read_answer(&mut stream).await.unwrap();
    assert_outcome(&answer, 408, "did not arrive within 300 ms");
    // A body that does arrive is read whole.
    let ok = send(
        server.addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await
    .unwrap();
    assert_eq!((ok.status, ok.body.as_str()), (200, "hello"));
}

mod linger;
