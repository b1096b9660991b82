//! Publishing availability is for the service's staff, on the admin listener only.

use bars_receiver::ReceiverConfig;
use bars_receiver::availability::Availability;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn admin(
    rx: &TestReceiver,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> bars_http::client::ClientResponse {
    rx.client
        .call(
            method,
            &format!("{}{path}", rx.admin),
            &[("content-type", "application/json".into())],
            body.map(|b| Bytes::from(b.to_string())),
        )
        .await
        .unwrap()
}

on_both! {
    #[tokio::test]
    async fn single_slots_can_be_published_and_free_ones_withdrawn(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let day = tomorrow();
        let slot = json!({
            "resourceType": "Slot", "schedule": { "reference": format!("Schedule/{SERVICE_A}-default") },
            "status": "free", "start": format!("{day}T18:00:00Z"), "end": format!("{day}T18:30:00Z"),
            "comment": "Evening clinic"
        });
        let r = admin(&rx, Method::POST, "/admin/slots", Some(slot.clone())).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let id = r.json().unwrap()["id"].as_str().unwrap().to_string();
        let published = rx
            .slots(SERVICE_A, "free")
            .await
            .into_iter()
            .find(|s| s["id"] == id.as_str())
            .unwrap();
        assert_eq!(
            published["comment"], "Evening clinic",
            "a slot keeps its own elements"
        );
        // The same slot twice is a conflict; a slot that is not valid is refused.
        assert_eq!(
            admin(&rx, Method::POST, "/admin/slots", Some(slot))
                .await
                .status,
            409
        );
        let backwards = json!({"resourceType": "Slot", "schedule": {"reference": format!("Schedule/{SERVICE_A}-default")}, "status": "free", "start": format!("{day}T19:00:00Z"), "end": format!("{day}T18:00:00Z")});
        assert_eq!(
            admin(&rx, Method::POST, "/admin/slots", Some(backwards))
                .await
                .status,
            400
        );

        // Withdraw a free slot: it is no longer free and cannot be booked.
        let r = admin(
            &rx,
            Method::POST,
            &format!("/admin/slots/{id}/withdraw"),
            None,
        )
        .await;
        assert_eq!(r.json().unwrap()["status"], "busy-unavailable");
        assert!(
            !rx.slots(SERVICE_A, "free")
                .await
                .iter()
                .any(|s| s["id"] == id.as_str())
        );
        assert_outcome(
            &rx.book(&published, PATIENT).await,
            409,
            "conflict",
            "REC_CONFLICT",
        );
        // A booked slot cannot be withdrawn.
        let booked_slot = rx.slots(SERVICE_A, "free").await.remove(0);
        assert_eq!(rx.book(&booked_slot, PATIENT).await.status, 201);
        assert_eq!(
            admin(
                &rx,
                Method::POST,
                &format!(
                    "/admin/slots/{}/withdraw",
                    booked_slot["id"].as_str().unwrap()
                ),
                None
            )
            .await
            .status,
            409
        );
        assert_eq!(
            admin(&rx, Method::POST, "/admin/slots/nope/withdraw", None)
                .await
                .status,
            404
        );
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn schedules_carry_a_template_their_slots_share(backend: Backend) {
        let rx = start(backend).await;
        let body = json!({
            "schedule": {
                "resourceType": "Schedule", "id": "dr-patel",
                "actor": [{ "reference": format!("HealthcareService/{SERVICE_B}") }, { "display": "Dr A Patel" }]
            },
            "slotTemplate": { "extension": [{ "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeliveryChannel", "valueCode": "Telephone" }] }
        });
        let r = admin(&rx, Method::POST, "/admin/schedules", Some(body)).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let plan = json!({ "service": SERVICE_B, "schedule": "dr-patel", "from": tomorrow(), "days": 1, "every": "30m", "between": "14:00-16:00", "zone": "UTC" });
        assert_eq!(
            admin(&rx, Method::POST, "/admin/slots/generate", Some(plan))
                .await
                .json()
                .unwrap()["created"],
            4
        );
        let slots = rx.slots(SERVICE_B, "free").await;
        assert_eq!(slots.len(), 4);
        assert_eq!(slots[0]["extension"][0]["valueCode"], "Telephone");
        assert_eq!(slots[0]["schedule"]["reference"], "Schedule/dr-patel");
        // A schedule for a service this receiver does not host is refused.
        let foreign =
            json!({ "resourceType": "Schedule", "actor": [{ "reference": "HealthcareService/999" }] });
        assert_eq!(
            admin(&rx, Method::POST, "/admin/schedules", Some(foreign))
                .await
                .status,
            404
        );
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn senders_cannot_reach_the_admin_api(backend: Backend) {
        let rx = start(backend).await;
        let plan = json!({ "service": SERVICE_A, "from": tomorrow(), "days": 1 });
        let r = rx.post("/admin/slots/generate").json(&plan).send().await;
        assert_outcome(&r, 404, "not-found", "REC_NOT_FOUND");
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn the_admin_api_can_require_a_token(backend: Backend) {
        let rx = start(backend).await;
        let guarded = bars_http::server::RunningServer::start(
            "127.0.0.1:0".parse().unwrap(),
            {
                // A second admin listener over the same state, this time with a token.
                let store = bars_store::open(&rx.db.url()).await.unwrap();
                let receiver = bars_receiver::Receiver::new(
                    bars_receiver::ReceiverConfig::new("RX001", &rx.base).with_service(SERVICE_A, "A"),
                    store,
                )
                .await
                .unwrap();
                receiver.admin_router(Some("s3cret".into()))
            },
            Default::default(),
        )
        .await
        .unwrap();
        let url = format!("http://{}/admin/services", guarded.addr);
        let r = rx.client.call(Method::GET, &url, &[], None).await.unwrap();
        assert_outcome(&r, 401, "security", "REC_UNAUTHORIZED");
        let r = rx
            .client
            .call(
                Method::GET,
                &url,
                &[("authorization", "Bearer wrong".into())],
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.status, 401);
        let r = rx
            .client
            .call(
                Method::GET,
                &url,
                &[("authorization", "Bearer s3cret".into())],
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        guarded.shutdown().await;
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn health_says_whether_the_store_answers(backend: Backend) {
        let rx = start(backend).await;
        let url = format!("{}/_status", rx.admin);
        let r = rx.client.call(Method::GET, &url, &[], None).await.unwrap();
        assert_eq!(r.status, 200);
        let body = r.json().unwrap();
        assert_eq!(body["status"], "pass");
        assert_eq!(body["checks"]["database:responseTime"][0]["status"], "pass");
        rx.stop().await;
    }
}

/// The receiver's availability publishing over `store`, for a receiver hosting SERVICE_A.
fn availability(store: std::sync::Arc<dyn bars_store::Store>) -> Availability {
    Availability {
        store,
        config: std::sync::Arc::new(
            ReceiverConfig::new("RX1", "https://127.0.0.1").with_service(SERVICE_A, "A"),
        ),
    }
}

// Moved from the store's contract: the receiver stamps reference resources, the store keeps
// the text.
on_both! {
    #[tokio::test]
    async fn reference_resources_are_versioned(backend: Backend) {
        let db = fresh_db(backend).await;
        let store = open_store(&db, None).await;
        let availability = availability(store.clone());
        let v1 = availability
            .put_resource(
                "Organization",
                "RX1",
                json!({"resourceType": "Organization", "name": "A"}),
            )
            .await
            .unwrap();
        let v2 = availability
            .put_resource(
                "Organization",
                "RX1",
                json!({"resourceType": "Organization", "name": "B"}),
            )
            .await
            .unwrap();
        assert_eq!((v1.version, v2.version), (1, 2));
        assert!(v2.last_updated > v1.last_updated);
        let got = store
            .get_resource("Organization", "RX1")
            .await
            .unwrap()
            .unwrap();
        let body: Value = serde_json::from_str(&got.body).unwrap();
        assert_eq!(
            (
                body["id"].as_str(),
                body["meta"]["versionId"].as_str(),
                body["name"].as_str()
            ),
            (Some("RX1"), Some("2"), Some("B"))
        );
        store.ping().await.unwrap();
    }
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn writers_of_one_schedule_at_once_each_get_a_version_of_their_own(backend: Backend) {
        let db = fresh_db(backend).await;
        let store = open_store(&db, None).await;
        let availability = availability(store.clone());
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let availability = availability.clone();
                tokio::spawn(async move {
                    let schedule = json!({
                        "resourceType": "Schedule",
                        "actor": [{ "reference": format!("HealthcareService/{SERVICE_A}") }],
                        "comment": format!("writer {i}")
                    });
                    availability
                        .put_schedule(Some("dr-patel"), schedule, json!({}))
                        .await
                        .map(|s| s.version)
                        .map_err(|e| e.diagnostics.clone())
                })
            })
            .collect();
        let mut versions = Vec::new();
        for w in writers {
            versions.push(w.await.unwrap().unwrap());
        }
        versions.sort_unstable();
        assert_eq!(versions, (1..=8).collect::<Vec<u64>>());
        let stored = store.get_schedules(&["dr-patel".into()]).await.unwrap();
        let body: Value = serde_json::from_str(&stored[0].body).unwrap();
        assert_eq!(
            (body["id"].as_str(), body["meta"]["versionId"].as_str()),
            (Some("dr-patel"), Some("8"))
        );
    }
}

on_both! {
    #[tokio::test]
    async fn a_schedule_posted_again_is_its_next_version(backend: Backend) {
        let rx = start(backend).await;
        let body = json!({
            "resourceType": "Schedule", "id": "dr-patel",
            "actor": [{ "reference": format!("HealthcareService/{SERVICE_A}") }]
        });
        let first = admin(&rx, Method::POST, "/admin/schedules", Some(body.clone())).await;
        let second = admin(&rx, Method::POST, "/admin/schedules", Some(body)).await;
        assert_eq!((first.status.as_u16(), second.status.as_u16()), (201, 201));
        let (first, second) = (first.json().unwrap(), second.json().unwrap());
        assert_eq!(
            (
                first["id"].as_str(),
                first["meta"]["versionId"].as_str(),
                second["meta"]["versionId"].as_str()
            ),
            (Some("dr-patel"), Some("1"), Some("2"))
        );
        let instant = |v: &Value| {
            bars_fhir::Instant::parse(v["meta"]["lastUpdated"].as_str().unwrap()).unwrap()
        };
        assert!(instant(&second) > instant(&first));
        rx.stop().await;
    }
}
