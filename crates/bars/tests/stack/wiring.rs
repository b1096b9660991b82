//! The stack (`bars demo`, and these tests) starts each role through the start-up that
//! `bars receiver|proxy|registry` runs: what production does with its settings, the stack does
//! too.

use std::time::Duration;

use bars_fhir::headers::DOS_SERVICE_SYSTEM;
use bars_http::client::HttpClient;
use bars_stack::LocalStack;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use crate::kit;

/// The endpoints the proxy's admin API lists.
async fn endpoints(plain: &HttpClient, admin_url: &str) -> Vec<Value> {
    let listed = plain
        .call(
            Method::GET,
            &format!("{admin_url}/admin/endpoints"),
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(listed.status, 200);
    listed.json().unwrap()["endpoints"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// As `bars proxy` keeps its directory in its database, the stack's proxy keeps it in the data
/// directory: an operator's change survives a restart of the demo, and the file's (here the
/// spec's) entries are seeded beside it.
#[tokio::test]
async fn the_stacks_proxy_keeps_admin_changes_in_its_database_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let spec = kit::spec(dir.path(), 1, None);
    let plain = HttpClient::plain(Duration::from_secs(10));
    let added = json!({
        "system": DOS_SERVICE_SYSTEM,
        "value": "2999999999",
        "name": "Added by an operator",
        "url": "https://127.0.0.1:9",
    });

    let stack = LocalStack::start(spec.clone()).await.unwrap();
    let answer = plain
        .call(
            Method::POST,
            &format!("{}/admin/endpoints", stack.proxy_admin_url),
            &[("content-type", "application/json".to_string())],
            Some(Bytes::from(added.to_string())),
        )
        .await
        .unwrap();
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    stack.stop().await;
    assert!(dir.path().join("proxy.db").exists());

    let stack = LocalStack::start(spec).await.unwrap();
    let listed = endpoints(&plain, &stack.proxy_admin_url).await;
    let values: Vec<&str> = listed.iter().filter_map(|e| e["value"].as_str()).collect();
    assert!(
        values.contains(&"2999999999"),
        "the operator's endpoint was lost on restart: {listed:?}"
    );
    for (service, _) in &stack.receivers[0].services {
        assert!(values.contains(&service.as_str()), "{listed:?}");
    }
    stack.stop().await;
}

/// The stack's registry refuses what `bars registry` refuses, in the registry's own (Spine)
/// codes: here a request target over the head limit.
#[tokio::test]
async fn the_stacks_registry_refuses_an_oversized_head_with_spine_codes() {
    let stack = kit::Stack::start(1).await;
    let long = "x".repeat(9 * 1024);
    let answer = stack
        .http
        .call(
            Method::GET,
            &format!("{}/DocumentReference?subject={long}", stack.registry_url),
            &[],
            None,
        )
        .await
        .unwrap();
    let outcome = answer.json().unwrap_or(Value::Null);
    let coding = &outcome["issue"][0]["details"]["coding"][0];
    assert_eq!(answer.status.as_u16(), 414, "{outcome}");
    assert_eq!(
        (coding["system"].as_str(), coding["code"].as_str()),
        (
            Some(bars_registry::errors::SPINE_ERROR_SYSTEM),
            Some("BAD_REQUEST")
        ),
        "{outcome}"
    );
    stack.stop().await;
}
