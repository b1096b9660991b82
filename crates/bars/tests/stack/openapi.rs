//! The OpenAPI documents: generated from the route tables, committed under `docs/openapi/`,
//! served at `/openapi.json`, and every operation they promise is routed.

use std::path::PathBuf;

use http::Method;
use serde_json::Value;

use crate::kit::*;

fn committed(role: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../docs/openapi/{role}.json"))
}

fn documents() -> [(&'static str, Value); 3] {
    [
        ("receiver", bars_receiver::openapi::document()),
        ("registry", bars_registry::openapi::document()),
        ("proxy", bars_proxy::openapi::document()),
    ]
}

/// CI fails here when the code's API changes and the committed documents were not regenerated
/// (`BLESS=1 cargo test -p bars --test stack openapi` regenerates them).
#[test]
fn the_committed_openapi_documents_match_the_code() {
    for (role, document) in documents() {
        let generated = serde_json::to_string_pretty(&document).unwrap() + "\n";
        let path = committed(role);
        if std::env::var_os("BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} is missing: run with BLESS=1", path.display()));
        assert!(
            on_disk == generated,
            "docs/openapi/{role}.json differs from the code's API; review and regenerate with BLESS=1"
        );
        assert_eq!(document["openapi"], "3.1.0");
        let mut ids: Vec<&str> = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|p| p.as_object().unwrap().values())
            .map(|op| op["operationId"].as_str().unwrap())
            .collect();
        let all = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all, "{role}: operationIds are unique");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_role_serves_its_document_and_every_operation_in_it_is_routed() {
    let stack = Stack::start(1).await;
    let service = stack.service(0, 0);
    let [(_, receiver), (_, registry), (_, proxy)] = documents();
    for (url, expected) in [
        (&stack.proxy_url, &proxy),
        (&stack.receivers[0].url, &receiver),
        (&stack.registry_url, &registry),
    ] {
        let r = stack
            .http
            .call(Method::GET, &format!("{url}/openapi.json"), &[], None)
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{url}");
        assert_eq!(&r.json().unwrap(), expected, "{url}");
    }

    // Every operation senders are promised reaches something that serves it: through the
    // proxy, nothing answers "no such path" or 405.
    let id = uuid::Uuid::new_v4().to_string();
    for (path, methods) in proxy["paths"].as_object().unwrap() {
        for method in methods.as_object().unwrap().keys() {
            let path = path.replace("{id}", &id).replace("{vid}", "1");
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let r = stack
                .request(method.clone(), &path, Some(&service))
                .send()
                .await;
            assert_ne!(r.status, 405, "{method} {path}");
            let diagnostics = r.json().map(|v| v["issue"][0]["diagnostics"].clone());
            let unknown = diagnostics
                .as_ref()
                .and_then(|d| d.as_str())
                .is_some_and(|d| {
                    d.contains("no such path") || d.contains("Endpoint on the API does not exist")
                });
            assert!(
                !unknown,
                "{method} {path} is documented but not served: {diagnostics:?}"
            );
        }
    }
    // What a receiver documents, senders can reach through the proxy.
    for path in receiver["paths"].as_object().unwrap().keys() {
        if !path.starts_with("/_") {
            assert!(
                proxy["paths"].get(path).is_some(),
                "{path} is not routed by the proxy"
            );
        }
    }
    stack.stop().await;
}
