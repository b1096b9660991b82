//! Values that look like SQL are data: stored, returned and searched verbatim, and refused
//! cleanly where they are not valid, never run.

use bars_fhir::search::encode_component;
use http::Method;
use serde_json::json;

use crate::helpers::*;

const HOSTILE: &str = "'; DROP TABLE appointment; --";

on_both! {
    #[tokio::test]
    async fn values_that_look_like_sql_are_stored_and_searched_verbatim(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let mut body = appointment_for(&slots[0], PATIENT);
        body["description"] = json!(HOSTILE);
        body["identifier"] = json!([{ "system": "https://example.org/booking", "value": HOSTILE }]);
        let r = rx.post("/Appointment").json(&body).send().await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let id = r.json().unwrap()["id"].as_str().unwrap().to_string();
        let stored = rx.get(&format!("/Appointment/{id}")).send().await.json().unwrap();
        assert_eq!(stored["description"], HOSTILE);
        assert_eq!(stored["identifier"][0]["value"], HOSTILE);

        let hostile = encode_component(HOSTILE);
        // As an id, a patient, a service and an audit filter: refused or found empty.
        let r = rx.get(&format!("/Appointment/{hostile}")).send().await;
        assert!(r.status.is_client_error(), "{}", r.status);
        let r = rx
            .get(&format!(
                "/Appointment?patient:identifier={}",
                encode_component(&format!("https://fhir.nhs.uk/Id/nhs-number|{HOSTILE}"))
            ))
            .send()
            .await;
        assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
        let query = rx.slot_query(SERVICE_A, "free").replace(SERVICE_A, &hostile);
        let r = rx.get(&query).send().await;
        assert!(r.status.is_client_error() || r.json().unwrap()["total"] == 0, "{}", r.status);
        for filter in ["patient", "appointment", "request"] {
            let r = rx
                .client
                .call(Method::GET, &format!("{}/admin/audit?{filter}={hostile}", rx.admin), &[], None)
                .await
                .unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(r.json().unwrap()["entries"].as_array().unwrap().len(), 0, "{filter}");
        }

        // Everything is still there.
        assert_eq!(rx.get(&format!("/Appointment/{id}")).send().await.status, 200);
        assert_eq!(rx.slots(SERVICE_A, "free").await.len(), slots.len() - 1);
        assert_eq!(rx.book(&slots[1], PATIENT).await.status, 201);
    }
}
