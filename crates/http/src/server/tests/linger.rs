//! A refusal reaches a client that writes its whole request before it reads: the server sends
//! the 413, then reads and discards what the client still sends (up to a bound in bytes and in
//! time) before it closes, so the client's kernel never sees a reset that would destroy the
//! answer it has not read yet.

use super::*;

/// The size the fault was reported with: far over the test app's limit (1 KiB).
const BODY: usize = 3 * 1024 * 1024;

/// A connection whose send buffer holds 64 KiB, as on a real network where most of a large
/// body is still in flight when the answer arrives (on loopback the kernel would otherwise
/// grow the buffer until it swallows the whole body and hide the fault).
async fn connect_with_small_send_buffer(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(64 * 1024).unwrap();
    socket.connect(addr).await.unwrap()
}

/// A POST that announces and carries `BODY` bytes, far over the test app's limit.
fn oversized_post() -> Vec<u8> {
    let mut request =
        format!("POST /echo HTTP/1.1\r\nHost: x\r\n{IDS}Content-Length: {BODY}\r\n\r\n")
            .into_bytes();
    request.resize(request.len() + BODY, b'{');
    request
}

/// A TLS connection (small send buffer) to a server whose certificate `ca` issued, presenting
/// `identity` if given; under TLS 1.3 it returns before the server has judged that identity.
async fn connect_over_tls(
    addr: SocketAddr,
    ca: &bars_pki::Ca,
    identity: Option<&bars_pki::Identity>,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(
        bars_pki::tls::client_config(ca.cert_pem(), identity).unwrap(),
    ));
    let tcp = connect_with_small_send_buffer(addr).await;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

/// Writes all of `request` and only then reads the answer, as Python `requests` does.
async fn write_everything_then_read(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut stream = connect_with_small_send_buffer(addr).await;
    tokio::time::timeout(HANG, stream.write_all(request))
        .await
        .expect("the server stopped reading")
        .expect("the connection was reset while the body was written");
    read_answer(&mut stream)
        .await
        .expect("the connection was closed or reset before the answer could be read")
}

#[tokio::test]
async fn a_client_that_writes_a_3_mib_body_before_reading_gets_the_413() {
    let server = start(ServerOptions::default()).await;
    let request = oversized_post();
    let answer = write_everything_then_read(server.addr, &request).await;
    assert_outcome(&answer, 413, "larger than the limit of 1024 bytes");
}

#[tokio::test]
async fn over_tls_a_client_that_writes_a_3_mib_body_before_reading_gets_the_413() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let ca = bars_pki::Ca::generate("linger test CA").unwrap();
    let identity = ca.issue_server("server", &["localhost"]).unwrap();
    let tls = bars_pki::tls::server_config(&identity, None, bars_pki::tls::ClientAuth::None);
    let server = start(ServerOptions {
        tls: Some(tls.unwrap()),
        ..ServerOptions::default()
    })
    .await;
    let mut stream = connect_over_tls(server.addr, &ca, None).await;
    let request = oversized_post();
    tokio::time::timeout(HANG, stream.write_all(&request))
        .await
        .expect("the server stopped reading")
        .expect("the connection was reset while the body was written");
    let mut received = Vec::new();
    // The server closes after its answer; a reset instead loses what was not yet read.
    let _ = tokio::time::timeout(HANG, stream.read_to_end(&mut received))
        .await
        .expect("the server neither answered nor closed");
    let received = String::from_utf8_lossy(&received);
    assert!(received.starts_with("HTTP/1.1 413"), "{received}");
    assert!(received.contains("\"OperationOutcome\""), "{received}");
}

/// A client whose certificate the server refuses learns why, though under TLS 1.3 it has sent
/// its request before the refusal: the server drains what it sent instead of resetting the
/// connection, so its writes succeed and it reads the alert.
#[tokio::test]
async fn a_client_whose_certificate_is_refused_reads_the_alert_after_writing_its_request() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let ca = bars_pki::Ca::generate("linger test CA").unwrap();
    let identity = ca.issue_server("server", &["localhost"]).unwrap();
    let tls = bars_pki::tls::server_config(
        &identity,
        Some(ca.cert_pem()),
        bars_pki::tls::ClientAuth::Optional,
    );
    let server = start(ServerOptions {
        tls: Some(tls.unwrap()),
        ..ServerOptions::default()
    })
    .await;
    let rogue = bars_pki::Ca::generate("rogue CA")
        .unwrap()
        .issue_client("rogue")
        .unwrap();
    let mut stream = connect_over_tls(server.addr, &ca, Some(&rogue)).await;
    let request = oversized_post();
    let written = tokio::time::timeout(HANG, stream.write_all(&request))
        .await
        .expect("the server stopped reading");
    let mut received = Vec::new();
    let read = tokio::time::timeout(HANG, stream.read_to_end(&mut received))
        .await
        .expect("the server neither refused nor closed");
    // The write may already fail on the alert itself; either way the alert, not a reset, is
    // what the client is told.
    let error = match (written, read) {
        (Err(e), _) | (Ok(()), Err(e)) => e.to_string(),
        (Ok(()), Ok(_)) => panic!("the refused client read {} bytes", received.len()),
    };
    assert!(
        error.to_ascii_lowercase().contains("alert"),
        "the client was told: {error}"
    );
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_written_before_reading_gets_the_413() {
    let server = start(ServerOptions::default()).await;
    let mut request =
        format!("POST /echo HTTP/1.1\r\nHost: x\r\n{IDS}Transfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    let chunk = vec![b'['; 64 * 1024];
    for _ in 0..BODY / chunk.len() {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(&chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let answer = write_everything_then_read(server.addr, &request).await;
    assert_outcome(&answer, 413, "larger than the limit of 1024 bytes");
}

/// Writes `piece` until the server cuts the connection; `None` when it never did within
/// `tries` writes.
async fn write_until_cut_off(
    stream: &mut TcpStream,
    piece: &[u8],
    tries: usize,
    pause: Duration,
) -> Option<usize> {
    let mut written = 0;
    for _ in 0..tries {
        match tokio::time::timeout(HANG, stream.write_all(piece)).await {
            Ok(Ok(())) => written += piece.len(),
            Ok(Err(_)) => return Some(written),
            Err(_) => return None,
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    None
}

#[tokio::test]
async fn a_client_that_keeps_sending_is_cut_off_after_the_byte_bound() {
    // The time bound is far away: only the byte bound can end this drain.
    let linger = Linger {
        max_bytes: 4 * 1024 * 1024,
        max_time: HANG * 4,
    };
    let server = start(ServerOptions {
        linger,
        ..ServerOptions::default()
    })
    .await;
    // Little room in buffers on the way, so what was written is close to what the server read.
    let mut stream = connect_with_small_send_buffer(server.addr).await;
    let head = format!("POST /echo HTTP/1.1\r\nHost: x\r\n{IDS}Content-Length: 999999999\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let piece = vec![b'x'; 64 * 1024];
    // Far more than the bound plus every socket buffer on the way.
    let written = write_until_cut_off(&mut stream, &piece, 100_000, Duration::ZERO).await;
    let written = written.expect("the server kept reading past its drain bound");
    assert!(
        written as u64 >= linger.max_bytes,
        "cut off after {written} bytes"
    );
}

#[tokio::test]
async fn a_client_that_trickles_forever_is_cut_off_after_the_time_bound() {
    // The byte bound is far away: only the time bound can end this drain.
    let server = start(ServerOptions {
        linger: Linger {
            max_bytes: u64::MAX,
            max_time: Duration::from_millis(300),
        },
        ..ServerOptions::default()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!("POST /echo HTTP/1.1\r\nHost: x\r\n{IDS}Content-Length: 999999999\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_answer(&mut stream).await.unwrap();
    assert_outcome(&answer, 413, "larger than the limit of 1024 bytes");
    // A byte every 20 ms: 1,500 tries is 30 s, a hundred times the bound.
    let cut = write_until_cut_off(&mut stream, b"x", 1_500, Duration::from_millis(20)).await;
    assert!(
        cut.is_some(),
        "the server kept draining past its time bound"
    );
}

#[tokio::test]
async fn a_body_read_in_full_keeps_the_connection_alive() {
    // The drain is for refusals only: a request whose body was read is answered and the
    // connection serves the next request.
    let server = start(ServerOptions::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            .await
            .unwrap();
        let answer = read_answer(&mut stream).await.unwrap();
        assert_eq!((answer.status, answer.body.as_str()), (200, "hello"));
    }
}
