//! One target, one service, end to end: through the proxy, a sender routed to one service of
//! a receiver cannot book, read or cancel what belongs to the receiver's other service.

use http::Method;
use serde_json::json;

use crate::kit::*;

#[tokio::test]
async fn through_the_proxy_a_target_reaches_only_its_own_service() {
    let stack = Stack::start(1).await;
    let (a, b) = (stack.service(0, 0), stack.service(0, 1));
    let theirs = stack.free_slots(&b).await.remove(0);

    // Booking B's slot while routed to A: the receiver's answer for an unknown slot.
    let r = stack.book(&a, &theirs, PATIENT).await;
    let body = r.json().unwrap();
    assert_eq!(
        (
            r.status.as_u16(),
            &body["issue"][0]["details"]["coding"][0]["code"]
        ),
        (404, &json!("REC_NOT_FOUND")),
        "{body}"
    );
    assert!(
        stack
            .free_slots(&b)
            .await
            .iter()
            .any(|s| s["id"] == theirs["id"]),
        "the slot is still free"
    );

    // A's appointment cannot be read or cancelled by a sender routed to B.
    let ours = stack.free_slots(&a).await.remove(0);
    let r = stack.book(&a, &ours, PATIENT).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let path = format!("/Appointment/{}", r.json().unwrap()["id"].as_str().unwrap());
    for method in [Method::GET, Method::DELETE] {
        let r = stack.request(method.clone(), &path, Some(&b)).send().await;
        assert_eq!(
            r.status,
            404,
            "{method}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let r = stack.request(Method::GET, &path, Some(&a)).send().await;
    let stored = r.json().unwrap();
    assert_eq!(
        (&stored["status"], &stored["meta"]["versionId"]),
        (&json!("booked"), &json!("1"))
    );
    stack.stop().await;
}
