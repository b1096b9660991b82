//! The sender SDK against the real stack: a booking whose answer is lost is retried with the
//! same ids and never books twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bars_client::{BarsClient, BookingDetails, SenderIdentity};
use bars_fhir::NhsNumber;
use bars_fhir::headers::TargetIdentifier;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::kit::*;

/// A TCP relay to a plain-HTTP `upstream` that, on its first connection, passes the request
/// on but swallows the answer and drops the connection: the sender cannot know whether it worked.
async fn answer_losing_relay(
    upstream: std::net::SocketAddr,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                if n > 0 {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    return;
                }
                let (mut cr, _cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let (mut up, mut down) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
                // Pass the request on until the server starts answering; then hang up on the
                // client without a word of the answer.
                loop {
                    tokio::select! {
                        read = cr.read(&mut up) => match read {
                            Ok(k) if k > 0 => { if sw.write_all(&up[..k]).await.is_err() { return; } }
                            _ => return,
                        },
                        answer = sr.read(&mut down) => { let _ = answer; return; }
                    }
                }
            });
        }
    });
    (addr, connections)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_whose_answer_was_lost_is_retried_and_never_books_twice() {
    let stack = Stack::start(1).await;
    let service = TargetIdentifier::dos(stack.service(0, 0));
    // A second proxy on plain HTTP (same applications, catalogue and upstream mTLS), so the
    // relay in front of it can see where the answer starts.
    let endpoints = stack
        .receivers
        .iter()
        .flat_map(|r| {
            r.services.iter().map(|(id, name)| bars_proxy::Endpoint {
                system: "https://fhir.nhs.uk/Id/dos-service-id".into(),
                value: id.clone(),
                name: name.clone(),
                url: r.url.clone(),
                ods_code: Some(r.ods.clone()),
            })
        })
        .collect();
    let upstream =
        bars_pki::tls::client_config(&stack.pki.ca_pem, Some(&stack.pki.proxy_client)).unwrap();
    let plain = bars_proxy::Proxy::new(
        bars_proxy::ProxyConfig::new("http://plain-proxy", &stack.registry_url),
        bars_proxy::Catalogue::from_entries(endpoints).unwrap(),
        (*stack.proxy.state.auth).clone(),
        Some(upstream.clone()),
        Some(upstream),
    );
    let server = bars_http::server::RunningServer::start(
        "127.0.0.1:0".parse().unwrap(),
        plain.router(),
        Default::default(),
    )
    .await
    .unwrap();
    let http = bars_http::client::HttpClient::plain(Duration::from_secs(10));
    let retry = bars_client::RetryPolicy {
        attempts: 4,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
    };
    let direct = BarsClient::new(
        http.clone(),
        &format!("http://{}", server.addr),
        stack.sender.clone(),
        SenderIdentity::new(SENDER_ODS, "Demo GP Practice"),
    );
    let patient = NhsNumber::parse(PATIENT).unwrap();
    let now = bars_fhir::Instant::now();
    let slots = direct
        .slots(&service, now, now.plus_seconds(3 * 86_400), "free")
        .await
        .unwrap();

    // The booking's answer is lost on its first attempt.
    let (relay, connections) = answer_losing_relay(server.addr).await;
    let client = BarsClient::new(
        http,
        &format!("http://{relay}"),
        stack.sender.clone(),
        SenderIdentity::new(SENDER_ODS, "Demo GP Practice"),
    )
    .with_retry(retry);
    let booked = client
        .book(&service, &slots[0], &patient, &BookingDetails::default())
        .await
        .unwrap();
    assert!(
        connections.load(Ordering::SeqCst) >= 2,
        "the first answer was lost and the request retried"
    );
    assert_eq!(booked["status"], "booked");
    assert_eq!(
        booked["slot"][0]["reference"],
        format!("Slot/{}", slots[0].id)
    );

    // Exactly one booking exists for the patient, and it is the one returned.
    let found = stack
        .request(
            http::Method::GET,
            &format!("/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}"),
            Some(&stack.service(0, 0)),
        )
        .send()
        .await
        .json()
        .unwrap();
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["entry"][0]["resource"]["id"], booked["id"]);
    server.shutdown().await;
    stack.stop().await;
}
