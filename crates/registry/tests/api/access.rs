//! Only the custodian writes (and reads by id); any authenticated organisation searches;
//! nobody the proxy did not vouch for gets anything.

use crate::helpers::*;

on_both! {
    #[tokio::test]
    async fn another_organisation_cannot_touch_a_pointer_but_can_find_it(backend: Backend) {
        let reg = start(backend).await;
        let id = reg.create(&pointer()).await;
        let path = format!("/DocumentReference/{id}");
        let body = reg.by(RGT).get(&path).send().await.json().unwrap();
        let other = reg.by(OTHER_ORG);

        let r = other.get(&path).send().await;
        assert_outcome(&r, 403, "forbidden", "ACCESS_DENIED");
        let diagnostics = r.json().unwrap()["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(diagnostics.contains("custodian"), "{diagnostics}");
        let r = other.put(&path).json(&body).send().await;
        assert_outcome(&r, 403, "forbidden", "ACCESS_DENIED");
        let r = other.delete(&path).send().await;
        assert_outcome(&r, 403, "forbidden", "ACCESS_DENIED");

        // ... and gets the same answer for ids that do not exist: no way to probe.
        let r = other
            .get(&format!("/DocumentReference/{RGT}-does-not-exist"))
            .send()
            .await;
        assert_outcome(&r, 403, "forbidden", "ACCESS_DENIED");

        // Creating a pointer in someone else's name is refused too.
        let r = other
            .post("/DocumentReference")
            .json(&pointer())
            .send()
            .await;
        assert_outcome(&r, 403, "forbidden", "ACCESS_DENIED");

        // But searching is open to any authenticated caller.
        let r = other.search(PATIENT, "").await;
        assert_eq!(r.status, 200, "{}", body_text(&r));
        let bundle = r.json().unwrap();
        assert_eq!(bundle["total"], 1);
        assert_eq!(bundle["entry"][0]["resource"]["id"], id.as_str());

        // The pointer is untouched, and its custodian still has it.
        let r = reg.by(RGT).get(&path).send().await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("etag"), Some("W/\"1\""));
    }
}

on_both! {
    #[tokio::test]
    async fn the_custodian_is_matched_case_insensitively(backend: Backend) {
        let reg = start(backend).await;
        let lower = reg.by("rgt");
        let r = lower
            .post("/DocumentReference")
            .json(&pointer())
            .send()
            .await;
        assert_success(&r, 201, "RESOURCE_CREATED");
        let id = id_from_location(&r);
        assert!(id.starts_with("RGT-"), "{id}");
        let r = lower.get(&format!("/DocumentReference/{id}")).send().await;
        assert_eq!(r.status, 200);
        let r = reg
            .by(RGT)
            .delete(&format!("/DocumentReference/{}", id.to_lowercase()))
            .send()
            .await;
        // Ids are case-sensitive: the lower-cased id names no pointer.
        assert_outcome(&r, 404, "not-found", "RESOURCE_NOT_FOUND");
        let r = lower
            .delete(&format!("/DocumentReference/{id}"))
            .send()
            .await;
        assert_success(&r, 200, "RESOURCE_DELETED");
    }
}

on_both! {
    #[tokio::test]
    async fn callers_the_proxy_did_not_authenticate_are_refused_everything(backend: Backend) {
        let reg = start(backend).await;
        let id = reg.create(&pointer()).await;
        let path = format!("/DocumentReference/{id}");
        let nobody = reg.anonymous();
        let responses = [
            nobody.search(PATIENT, "").await,
            nobody.get(&path).send().await,
            nobody
                .post("/DocumentReference")
                .json(&pointer())
                .send()
                .await,
            nobody.put(&path).json(&pointer()).send().await,
            nobody.delete(&path).send().await,
        ];
        for r in &responses {
            assert_outcome(r, 403, "forbidden", "ACCESS_DENIED");
            let diagnostics = r.json().unwrap()["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(
                diagnostics.contains("did not come through the BaRS proxy"),
                "{diagnostics}"
            );
        }
        let r = reg.by("not an ODS code").search(PATIENT, "").await;
        assert_outcome(&r, 403, "forbidden", "ACCESS_DENIED");
        assert_eq!(reg.by(RGT).get(&path).send().await.status, 200);
    }
}

// SQLite only: this is about which transport rules believe the proxy's header.
#[tokio::test]
async fn production_rules_believe_the_organisation_only_from_a_verified_proxy() {
    use std::sync::Arc;

    use bars_http::server::{RunningServer, ServerOptions};
    use bars_registry::{Registry, RegistryConfig, SqliteRegistryStore};

    // Without mutual TLS the proxy's header is not believed, so even a "custodian" is nobody.
    let db = fresh_db(Backend::Sqlite).await;
    let store = Arc::new(SqliteRegistryStore::open(db.file()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let registry = Registry::new(RegistryConfig::new(&base), store);
    let server = RunningServer::start_on(
        listener,
        registry.router(Registry::production_rules()),
        ServerOptions::default(),
    );
    let client = bars_http::client::HttpClient::plain(std::time::Duration::from_secs(10));
    let r = client
        .call(
            http::Method::GET,
            &format!("{base}/DocumentReference?subject:identifier={NHS_SYSTEM}|{PATIENT}"),
            &[("nhsd-authenticated-organisation", RGT.to_string())],
            None,
        )
        .await
        .unwrap();
    assert_outcome(&r, 403, "forbidden", "ACCESS_DENIED");
    server.shutdown().await;
}
