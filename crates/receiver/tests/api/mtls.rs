//! Receivers accept only clients with a certificate from the trusted CA (the proxy).

use std::sync::Arc;
use std::time::Duration;

use bars_http::client::HttpClient;
use bars_http::server::{RunningServer, ServerOptions};
use bars_http::transport::TransportRules;
use bars_pki::Ca;
use bars_pki::tls::{ClientAuth, client_config, server_config};
use bars_receiver::{Receiver, ReceiverConfig};
use bars_store::sqlite::SqliteStore;
use http::Method;

use crate::helpers::*;

// SQLite only: this is about the TLS listener; the store behind it plays no part.
#[tokio::test]
async fn only_clients_certified_by_the_trusted_ca_get_through() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let ca = Ca::generate("BaRS test CA").unwrap();
    let server_identity = ca
        .issue_server("receiver", &["localhost", "127.0.0.1"])
        .unwrap();
    let proxy_identity = ca.issue_client("proxy").unwrap();
    let intruder = Ca::generate("Someone else's CA")
        .unwrap()
        .issue_client("intruder")
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("r.db")).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let receiver = Receiver::new(
        ReceiverConfig::new("RX001", &base).with_service(SERVICE_A, "A"),
        store,
    )
    .await
    .unwrap();
    let rules = TransportRules {
        require_client_certificate: true,
        ..TransportRules::receiver()
    };
    let options = ServerOptions {
        tls: Some(
            server_config(&server_identity, Some(ca.cert_pem()), ClientAuth::Optional).unwrap(),
        ),
        ..ServerOptions::default()
    };
    let server = RunningServer::start_on(listener, receiver.router(rules), options);

    let client = |identity| {
        HttpClient::new(
            Some(client_config(ca.cert_pem(), identity).unwrap()),
            Duration::from_secs(10),
        )
    };
    let get = |c: HttpClient| {
        let url = format!("{base}/metadata");
        async move { Req::new(c, Method::GET, url).send_checked().await }
    };

    // The proxy's certificate: served.
    let ok = get(client(Some(&proxy_identity))).await.unwrap();
    assert_eq!(ok.status, 200);
    // No certificate at all: the handshake completes and the receiver answers 403.
    let none = get(client(None)).await.unwrap();
    assert_outcome(&none, 403, "forbidden", "REC_FORBIDDEN");
    assert!(none.header("x-request-id").is_some());
    // A certificate from another CA: the handshake itself is refused.
    assert!(get(client(Some(&intruder))).await.is_err());
    // A client that trusts no CA refuses the server.
    let plain = get(HttpClient::plain(Duration::from_secs(5))).await;
    assert!(
        plain.is_err(),
        "an https URL with no trusted CA fails closed"
    );
    server.shutdown().await;
    receiver.close().await;
}
