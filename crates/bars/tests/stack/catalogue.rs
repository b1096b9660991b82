//! The Endpoint Catalogue in the whole system: the configured receivers are in it as FHIR
//! records, a sender's organisation adds its own through the FHIR API, the SDK's discovery
//! (what `bars services` prints) lists them, and routing follows each change at once (D24).

use bars_client::{BarsClient, SenderIdentity};
use http::Method;
use serde_json::{Value, json};

use crate::kit::*;

const DOS: &str = "https://fhir.nhs.uk/Id/dos-service-id";
const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";

fn created_id(r: &bars_http::client::ClientResponse) -> String {
    assert_eq!(r.status, 201, "{:?}", r.json());
    r.json().unwrap()["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_and_discovery_follow_the_catalogue_as_its_owners_change_it() {
    let stack = Stack::start(2).await;
    let service = stack.service(0, 0);
    let client = BarsClient::new(
        stack.http.clone(),
        &stack.proxy_url,
        stack.sender.clone(),
        SenderIdentity::new(SENDER_ODS, "Demo GP Practice"),
    );

    // The configured receivers are the catalogue's first records, owned by their ODS codes.
    let listed = client.services(None).await.unwrap();
    assert_eq!(listed.len(), 4);
    let seeded = listed.iter().find(|s| s.value == service).unwrap();
    assert_eq!(seeded.ods_code.as_deref(), Some("RX001"));
    let routed = stack
        .request(Method::GET, "/metadata", Some(&service))
        .send()
        .await;
    assert_eq!(routed.status, 200);
    assert_eq!(
        routed.json().unwrap()["resourceType"],
        "CapabilityStatement"
    );

    // The sender's organisation cannot change a receiver's records...
    let found = stack
        .request(
            Method::GET,
            &format!("/Endpoint?_has:HealthcareService.Identifier={DOS}|{service}"),
            None,
        )
        .send()
        .await;
    let mut theirs: Value = found.json().unwrap()["entry"][0]["resource"].clone();
    let theirs_id = theirs["id"].as_str().unwrap().to_string();
    theirs["address"] = json!("https://elsewhere.example");
    assert_outcome(
        &stack
            .request(Method::PUT, &format!("/Endpoint/{theirs_id}"), None)
            .json(&theirs)
            .send()
            .await,
        403,
        "forbidden",
        "SEND_FORBIDDEN",
    );

    // ...but may list its own service under the same identifier, at the second receiver.
    let endpoint = json!({
        "resourceType": "Endpoint",
        "identifier": [{ "system": DOS, "value": service }],
        "status": "active",
        "connectionType": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest" }] },
        "name": "A second route",
        "payloadType": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "code": "bars" }] }],
        "managingOrganization": [{ "identifier": { "system": ODS, "value": SENDER_ODS } }],
        "address": stack.receivers[1].url,
        "header": "private",
        "period": { "start": "2025-01-01T00:00:00Z" }
    });
    let eid = created_id(
        &stack
            .request(Method::POST, "/Endpoint", None)
            .json(&endpoint)
            .send()
            .await,
    );
    let hs = json!({
        "resourceType": "HealthcareService",
        "identifier": [{ "system": DOS, "value": service }],
        "active": true,
        "providedBy": [{ "identifier": { "system": ODS, "value": SENDER_ODS } }],
        "name": "Sender's own listing",
        "endpoint": [{ "reference": format!("Endpoint/{eid}") }]
    });
    let sid = created_id(
        &stack
            .request(Method::POST, "/HealthcareService", None)
            .json(&hs)
            .send()
            .await,
    );

    // Discovery lists it; routing now has two active BaRS endpoints for one target.
    let mine = client.services(Some("own listing")).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].ods_code.as_deref(), Some(SENDER_ODS));
    assert_outcome(
        &stack
            .request(Method::GET, "/metadata", Some(&service))
            .send()
            .await,
        404,
        "multiple-matches",
        "NOT_FOUND",
    );

    // Its owner removes it (service first: the endpoint is in use until then); routing is back.
    assert_outcome(
        &stack
            .request(Method::DELETE, &format!("/Endpoint/{eid}"), None)
            .send()
            .await,
        409,
        "conflict",
        "PROXY_CONFLICT",
    );
    for path in [
        format!("/HealthcareService/{sid}"),
        format!("/Endpoint/{eid}"),
    ] {
        let r = stack.request(Method::DELETE, &path, None).send().await;
        assert_eq!(r.status, 200, "{path}");
    }
    assert_eq!(client.services(None).await.unwrap().len(), 4);
    let routed = stack
        .request(Method::GET, "/metadata", Some(&service))
        .send()
        .await;
    assert_eq!(routed.status, 200);
    stack.stop().await;
}
