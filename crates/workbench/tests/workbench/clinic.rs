//! The clinic's side beside the sender's: a booking made in the browser appears on the
//! service's day list (NHS number masked) and in its events; staff record arrived, and the
//! sender's page shows it and a sender's update is refused; staff cancel with a reason, and
//! the sender sees it. Each step checked against the receiver's store, each page by axe-core.

use bars_store::Store;
use bars_workbench::ClinicAccess;

use crate::browser::{self, Browser};
use crate::harness::{Bench, OTHER_PATIENT, PATIENT, SERVICE, text};

/// An admin token the workbench sends (the stack's admin API needs none, so it is accepted);
/// the inspector must never show it whole.
const ADMIN_TOKEN: &str = "clinic-admin-token-0123456789";

fn appointment_id(url: &str) -> String {
    let path = url.split('?').next().unwrap();
    path.rsplit('/').next().unwrap().to_string()
}

/// Books the first free slot of the week for `patient` as the sender; the appointment id.
async fn book(b: &Browser, base: &str, patient: &str, reason: &str) -> String {
    b.goto(&format!("{base}/services/{SERVICE}/week")).await;
    b.click_to_next_page("a.slot.free").await;
    b.type_into("#nhs", patient).await;
    b.type_into("#reason", reason).await;
    b.click_to_next_page("#book").await;
    appointment_id(&b.url().await)
}

async fn status(store: &dyn Store, id: &str) -> String {
    let a = store.get_appointment(id).await.unwrap().unwrap();
    a.status.as_str().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clinic_and_the_sender_see_each_other_act_in_a_browser() {
    let Some(b) = browser::start().await else {
        return;
    };
    let bench = Bench::start_full(None, |stack| {
        let mut access = ClinicAccess::from_manifest(&stack.manifest(&[]));
        access.admin_token(&format!("RXR01={ADMIN_TOKEN}")).unwrap();
        access
    })
    .await;
    let store = bench.stack.receivers[0].store.clone();
    let base = bench.workbench.url.clone();

    // The sender books; the appointment's page shows the clinic's side: the booked event.
    let id = book(&b, &base, PATIENT, "Sprained ankle").await;
    assert_eq!(status(&*store, &id).await, "booked");
    let side = b.text(".clinic-side").await;
    assert!(side.contains("appointment.booked"), "{side}");
    b.check_accessibility("the appointment with the clinic's side")
        .await;

    // The clinic's day list shows it, the NHS number masked, and the event.
    b.click_to_next_page(".clinic-side a[href^='/clinic/day']")
        .await;
    let row = format!("tr[data-appointment='{id}']");
    assert_eq!(
        b.text(&format!("{row} [data-field=status]")).await,
        "booked"
    );
    assert_eq!(
        b.text(&format!("{row} [data-field=patient]")).await,
        "*******919"
    );
    assert!(
        !b.body().await.contains(PATIENT),
        "the day list shows the NHS number in full"
    );
    let events = b.text(".events").await;
    assert!(
        events.contains("appointment.booked") && events.contains("by the sender"),
        "{events}"
    );
    b.check_accessibility("the clinic's day list").await;

    // Staff record that the patient arrived, from the day list; the inspector shows the admin call.
    b.click_to_next_page(&format!("{row} button[data-staff=arrived]"))
        .await;
    assert_eq!(status(&*store, &id).await, "arrived");
    assert_eq!(
        b.text(&format!("{row} [data-field=status]")).await,
        "arrived"
    );
    let inspector = b.text(".inspector").await;
    assert!(
        inspector.contains(&format!("POST /admin/appointments/{id}/arrived → 200")),
        "{inspector}"
    );
    let source = b.client.source().await.unwrap();
    assert!(
        !source.contains(ADMIN_TOKEN),
        "the admin token is shown whole"
    );
    assert!(
        source.contains("clinic-adm… (redacted"),
        "the admin token is not shown redacted"
    );
    assert!(b.text(".events").await.contains("appointment.arrived"));
    b.check_accessibility("the day list after a staff action")
        .await;
    b.screenshot("clinic-day").await;

    // The sender's page shows arrived on its next read, and a sender's update is refused.
    b.click_to_next_page(&format!("{row} a[href*='/appointments/']"))
        .await;
    assert_eq!(b.text("[data-field=status]").await, "arrived");
    b.type_into("#description", "Swelling worse").await;
    b.click_to_next_page("#update").await;
    let refusal = b.text(".refusal").await;
    assert!(
        refusal.contains(
            "The appointment is no longer current (it may already be cancelled or attended)"
        ),
        "{refusal}"
    );
    assert_eq!(b.text("[data-bars-code]").await, "REC_CONFLICT");
    let stored = store.get_appointment(&id).await.unwrap().unwrap();
    assert!(
        !stored.body.contains("Swelling worse"),
        "the refused update was stored"
    );
    b.check_accessibility("a sender's refused update after arrival")
        .await;

    // Another booking, cancelled by the clinic with a reason from the appointment's page.
    let other = book(&b, &base, OTHER_PATIENT, "Follow-up").await;
    b.type_into(&format!("#staff-reason-{other}"), "Clinician unwell")
        .await;
    b.click_to_next_page(".clinic-side button[data-staff=cancel]")
        .await;
    assert_eq!(status(&*store, &other).await, "cancelled");
    assert_eq!(b.text("[data-field=status]").await, "cancelled");
    assert!(b.text("#current").await.contains("Clinician unwell"));
    let side = b.text(".clinic-side").await;
    assert!(
        side.contains("appointment.cancelled") && side.contains("by the provider"),
        "{side}"
    );
    b.screenshot("clinic-cancel").await;

    // A cancel without a reason is refused by the receiver, and explained.
    let third = book(&b, &base, PATIENT, "Another").await;
    b.click_to_next_page(".clinic-side button[data-staff=cancel]")
        .await;
    let refusal = b.text(".refusal").await;
    assert!(
        refusal.contains("The request was not valid") && refusal.contains("REC_BAD_REQUEST"),
        "{refusal}"
    );
    assert_eq!(status(&*store, &third).await, "booked");

    b.close().await;
    bench.stop().await;
}

/// Without any receiver's admin API, the clinic pages say what to configure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_admin_api_the_clinic_pages_say_what_to_configure() {
    let bench = Bench::start_full(None, |_| ClinicAccess::default()).await;
    for path in ["/clinic", &format!("/clinic/day?service={SERVICE}")] {
        let page = text(&bench.get(path).await);
        assert!(
            page.contains("id=\"clinic-not-configured\""),
            "{path}: {page}"
        );
        assert!(page.contains("--receiver-admin ODS=URL"), "{path}");
    }
    bench.stop().await;
}
