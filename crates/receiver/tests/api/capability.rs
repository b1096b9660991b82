//! The CapabilityStatement is pinned by a snapshot and held to what the router serves.

use std::path::PathBuf;

use bars_receiver::capability::{OPERATIONS, SERVED, route_of};
use http::Method;
use serde_json::Value;

use crate::helpers::*;

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/snapshots/{name}"))
}

/// Replaces what differs per run (the port in URLs) so the snapshot is stable.
fn redact(v: &mut Value, base: &str) {
    match v {
        Value::String(s) if s.contains(base) => *s = s.replace(base, "http://receiver.test"),
        Value::Array(a) => a.iter_mut().for_each(|x| redact(x, base)),
        Value::Object(o) => o.values_mut().for_each(|x| redact(x, base)),
        _ => {}
    }
}

on_both! {
    #[tokio::test]
    /// One statement per version served, the one the request's Accept version selects.
    async fn capability_statement_matches_its_snapshot(backend: Backend) {
        let rx = start(backend).await;
        for (asked, name) in [
            ("1.1.0", "capability-statement.json"),
            ("1.5.0", "capability-statement-1.5.0.json"),
        ] {
            let r = rx
                .get("/metadata")
                .header("accept", &format!("application/fhir+json; version={asked}"))
                .send()
                .await;
            assert_eq!(r.status, 200);
            let mut statement = r.json().unwrap();
            redact(&mut statement, &rx.base);
            let actual = serde_json::to_string_pretty(&statement).unwrap() + "\n";
            let path = snapshot_path(name);
            if std::env::var_os("BLESS").is_some() {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &actual).unwrap();
            }
            let expected = std::fs::read_to_string(&path)
                .expect("snapshot missing: run with BLESS=1 to create it");
            assert_eq!(
                actual, expected,
                "the CapabilityStatement of {asked} changed; review and re-run with BLESS=1 to accept"
            );
        }
        rx.stop().await;
    }
}

on_both! {
    /// Every interaction and operation the statement declares is routed (answers anything but
    /// 404/405), so the statement cannot claim what is not served.
    #[tokio::test]
    async fn every_declared_interaction_is_served(backend: Backend) {
        let rx = start(backend).await;
        let id = uuid::Uuid::new_v4();
        for resource in SERVED {
            for interaction in resource.interactions {
                let (method, suffix) = route_of(interaction).unwrap();
                let path = format!(
                    "/{}{}",
                    resource.resource,
                    suffix
                        .replace("{id}", &id.to_string())
                        .replace("{vid}", "1")
                );
                let r = rx
                    .req(Method::from_bytes(method.as_bytes()).unwrap(), &path)
                    .send()
                    .await;
                assert_ne!(r.status, 405, "{method} {path}");
                let body = r.json().unwrap_or(Value::Null);
                let unknown_path =
                    body["issue"][0]["diagnostics"] == "this receiver serves no such path";
                assert!(!unknown_path, "{method} {path} is declared but not routed");
            }
        }
        let statement = rx.get("/metadata").send().await.json().unwrap();
        let declared = statement["rest"][0]["operation"].as_array().unwrap();
        assert_eq!(declared.len(), OPERATIONS.len());
        for op in OPERATIONS {
            assert!(
                declared
                    .iter()
                    .any(|d| d["name"] == op.name && d["definition"] == op.definition)
            );
            let r = rx
                .req(Method::from_bytes(op.method.as_bytes()).unwrap(), op.path)
                .send()
                .await;
            assert_ne!(r.status, 405, "{} {}", op.method, op.path);
            let body = r.json().unwrap_or(Value::Null);
            let unknown_path = body["issue"][0]["diagnostics"] == "this receiver serves no such path";
            assert!(
                !unknown_path,
                "{} {} is declared but not routed",
                op.method, op.path
            );
        }
        // Every supported message is a definition GET /MessageDefinition serves.
        for m in statement["messaging"][0]["supportedMessage"]
            .as_array()
            .unwrap()
        {
            assert_eq!(m["mode"], "receiver");
            let r = rx
                .get(&format!("/MessageDefinition?context={SERVICE_A}"))
                .send()
                .await;
            assert_eq!(r.status, 200);
            let served = r.json().unwrap();
            assert!(
                served["entry"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["resource"]["url"] == m["definition"]),
                "{m}"
            );
        }
        rx.stop().await;
    }
}
