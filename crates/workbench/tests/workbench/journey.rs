//! The whole flow in a real browser, as a person does it: find a slot, book, see it in the
//! patient's list, reschedule, a refused double booking, rebook, cancel; each page checked
//! against what the receiver holds, and by axe-core.

use std::time::Duration;

use bars_store::Store;

use crate::browser;
use crate::harness::{Bench, OTHER_PATIENT, PATIENT, SERVICE};

/// The receiver's own record of an appointment: (status, slots held).
async fn held(store: &dyn Store, id: &str) -> (String, Vec<String>) {
    let a = store
        .get_appointment(id)
        .await
        .unwrap()
        .expect("the receiver has no such appointment");
    (a.status.as_str().to_string(), a.held_slots)
}

async fn slot_status(store: &dyn Store, id: &str) -> String {
    store.get_slots(&[id.to_string()]).await.unwrap()[0]
        .status
        .as_str()
        .to_string()
}

const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

fn appointment_id(url: &str) -> String {
    let path = url.split('?').next().unwrap();
    path.rsplit('/').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_books_reschedules_rebooks_and_cancels_in_a_browser() {
    let Some(b) = browser::start().await else {
        return;
    };
    let bench = Bench::start().await;
    let store = bench.stack.receivers[0].store.clone();
    let base = bench.workbench.url.clone();
    b.client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(60)),
            Some(Duration::from_secs(60)),
            Some(Duration::ZERO),
        ))
        .await
        .unwrap();

    // The directory lists the services; choose one.
    b.goto(&format!("{base}/")).await;
    assert!(b.body().await.contains("Riverside Minor Injuries Unit"));
    b.check_accessibility("the service directory").await;
    b.click_to_next_page(&format!("a[data-service='{SERVICE}']"))
        .await;

    // A week of slots: free ones to choose.
    let first = b.find("a.slot.free").await;
    let slot = first.attr("data-slot").await.unwrap().unwrap();
    let book_link = first.attr("href").await.unwrap().unwrap();
    assert_eq!(slot_status(&*store, &slot).await, "free");
    b.check_accessibility("the week view").await;
    b.screenshot("week").await;
    b.click_to_next_page(&format!("a.slot.free[data-slot='{slot}']"))
        .await;

    // The NHS number is checked as it is typed.
    b.type_into("#nhs", "943 476 5918").await;
    assert!(
        b.text("#nhs-check")
            .await
            .contains("check digit does not match")
    );
    b.type_into("#nhs", "943 476 5919").await;
    assert_eq!(b.text("#nhs-check").await, "Valid NHS number.");
    b.type_into("#reason", "Sprained ankle").await;
    b.check_accessibility("the booking form").await;
    b.click_to_next_page("#book").await;

    // The appointment's page: what the receiver holds, and what the booking sent.
    let id = appointment_id(&b.url().await);
    assert_eq!(b.text("[data-field=status]").await, "booked");
    assert_eq!(b.text("[data-field=slot]").await, slot);
    assert_eq!(b.text("[data-field=description]").await, "Sprained ankle");
    assert_eq!(
        held(&*store, &id).await,
        ("booked".into(), vec![slot.clone()])
    );
    assert_eq!(slot_status(&*store, &slot).await, "busy");
    let inspector = b.text(".inspector").await;
    assert!(inspector.contains("Book the slot"), "{inspector}");
    assert!(inspector.contains("POST /Appointment → 201"), "{inspector}");
    b.check_accessibility("the appointment").await;
    b.screenshot("appointment").await;

    // Update the details: a new version, and what changed.
    b.type_into("#description", "Swelling worse").await;
    b.type_into("#comment", "Can walk with difficulty").await;
    b.click_to_next_page("#update").await;
    assert_eq!(b.text("[data-field=description]").await, "Swelling worse");
    assert_eq!(b.text("[data-field=version]").await, "2");
    let stored = store.get_appointment(&id).await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert!(
        stored.body.contains("Swelling worse") && stored.body.contains("Can walk with difficulty")
    );
    let versions = b.text(".versions").await;
    assert!(
        versions.contains("/description") && versions.contains("/comment"),
        "{versions}"
    );

    // The same slot again, from the week view as it was before: refused, explained, coded.
    b.goto(&format!("{base}{book_link}")).await;
    b.type_into("#nhs", OTHER_PATIENT).await;
    b.click_to_next_page("#book").await;
    let refusal = b.text(".refusal").await;
    assert!(
        refusal.contains("That slot has just been taken or is no longer available"),
        "{refusal}"
    );
    assert_eq!(b.text("[data-bars-code]").await, "REC_CONFLICT");
    assert_eq!(
        b.text(".exchange.failed [data-outcome-code]").await,
        "REC_CONFLICT"
    );
    b.check_accessibility("a refused booking").await;
    b.screenshot("refused").await;
    b.client
        .execute(
            "document.querySelector('.exchange.failed').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    b.screenshot("inspector").await;
    assert_eq!(
        held(&*store, &id).await.1,
        vec![slot.clone()],
        "the refusal changed the booking"
    );

    // The patient's appointments, from the Registry (its pointer arrives a moment later).
    let mut listed = false;
    for _ in 0..50 {
        b.goto(&format!("{base}/patients?nhs={PATIENT}")).await;
        if b.client
            .find(fantoccini::Locator::Css(&format!(
                "tr[data-appointment='{id}']"
            )))
            .await
            .is_ok()
        {
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(listed, "the patient's list never showed {id}");
    b.check_accessibility("the patient's appointments").await;
    b.click_to_next_page(&format!("tr[data-appointment='{id}'] a"))
        .await;
    assert_eq!(appointment_id(&b.url().await), id);

    // Reschedule: choose another free slot on the week view.
    b.click_to_next_page("#reschedule").await;
    b.check_accessibility("the week view, rescheduling").await;
    let other = b
        .find("button.slot.free")
        .await
        .attr("data-slot")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(other, slot);
    b.click_to_next_page(&format!("button.slot.free[data-slot='{other}']"))
        .await;
    assert_eq!(appointment_id(&b.url().await), id);
    assert_eq!(b.text("[data-field=slot]").await, other);
    assert_eq!(b.text("[data-field=version]").await, "3");
    assert_eq!(
        held(&*store, &id).await,
        ("booked".into(), vec![other.clone()])
    );
    assert_eq!(slot_status(&*store, &slot).await, "free");
    let versions = b.text(".versions").await;
    assert!(versions.contains("/slot/0/reference"), "{versions}");
    assert!(
        versions.contains(&format!("Slot/{slot}")) && versions.contains(&format!("Slot/{other}"))
    );
    assert!(b.text(".inspector").await.contains("PATCH /Appointment/"));

    // Rebook: a new booking replacing this one, which is then cancelled.
    b.click_to_next_page("#rebook").await;
    let third = b
        .find("button.slot.free")
        .await
        .attr("data-slot")
        .await
        .unwrap()
        .unwrap();
    b.click_to_next_page(&format!("button.slot.free[data-slot='{third}']"))
        .await;
    let new_id = appointment_id(&b.url().await);
    assert_ne!(new_id, id);
    assert_eq!(b.text("[data-field=slot]").await, third);
    assert!(
        b.body().await.contains(&id),
        "the new appointment does not say what it replaces"
    );
    assert_eq!(
        held(&*store, &new_id).await,
        ("booked".into(), vec![third.clone()])
    );
    assert_eq!(held(&*store, &id).await.0, "cancelled");
    assert_eq!(slot_status(&*store, &other).await, "free");

    // Cancel the new one.
    b.type_into("#cancel-reason", "Feeling better").await;
    b.click_to_next_page("#cancel").await;
    assert_eq!(b.text("[data-field=status]").await, "cancelled");
    assert!(b.body().await.contains("it can no longer be changed"));
    assert_eq!(held(&*store, &new_id).await.0, "cancelled");
    assert_eq!(slot_status(&*store, &third).await, "free");
    b.check_accessibility("a cancelled appointment").await;

    // The inspector keeps every action; the clinic's page is in place.
    b.goto(&format!("{base}/inspector")).await;
    let history = b.body().await;
    for action in [
        "Cancel the appointment",
        "Rebook",
        "Reschedule to another slot",
        "Book the slot",
    ] {
        assert!(history.contains(action), "{action} missing from {history}");
    }
    b.check_accessibility("the inspector").await;
    b.goto(&format!("{base}/clinic")).await;
    b.check_accessibility("the clinic page").await;

    // Readable on a tablet: nothing wider than the screen.
    b.client.set_window_size(820, 1180).await.unwrap();
    b.goto(&format!("{base}/services/{SERVICE}/appointments/{new_id}"))
        .await;
    let overflow = b
        .client
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the page is wider than a tablet: {overflow}"
    );
    b.screenshot("tablet").await;

    b.close().await;
    bench.stop().await;
}

/// With JavaScript off, and with the keyboard alone, the same pages still book: plain links
/// and forms, the NHS number checked on the server; the clinic's staff action posts too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_work_with_javascript_off_and_the_keyboard_alone() {
    let Some(b) = browser::start_with(false).await else {
        return;
    };
    let bench = Bench::start().await;
    let store = bench.stack.receivers[0].store.clone();
    b.goto(&format!("{}/services/{SERVICE}/week", bench.workbench.url))
        .await;
    // Tab from the top of the page to the first free slot, and choose it with Enter.
    let mut slot = None;
    for _ in 0..40 {
        let focused = b.client.active_element().await.unwrap();
        focused.send_keys(TAB).await.unwrap();
        let focused = b.client.active_element().await.unwrap();
        if focused.attr("class").await.unwrap().as_deref() == Some("slot free") {
            slot = focused.attr("data-slot").await.unwrap();
            break;
        }
    }
    let slot = slot.expect("Tab never reached a free slot");
    b.press_to_next_page(ENTER).await;
    assert!(b.url().await.contains(&format!("slot={slot}")));
    // No script ran: the NHS number is checked by the server instead. Enter in the field
    // sends the form.
    b.type_into("#nhs", "9434765918").await;
    assert_eq!(b.text("#nhs-check").await, "");
    b.press_to_next_page(ENTER).await;
    assert!(b.text("#nhs-error").await.contains("check digit"));
    b.type_into("#nhs", PATIENT).await;
    b.press_to_next_page(ENTER).await;
    let id = appointment_id(&b.url().await);
    assert_eq!(b.text("[data-field=status]").await, "booked");
    assert_eq!(held(&*store, &id).await, ("booked".into(), vec![slot]));
    // The clinic's side is plain forms too: the staff action's button posts without a script.
    b.type_into(&format!("#staff-reason-{id}"), "Clinic closed")
        .await;
    b.click_to_next_page(".clinic-side button[data-staff=cancel]")
        .await;
    assert_eq!(b.text("[data-field=status]").await, "cancelled");
    assert_eq!(held(&*store, &id).await.0, "cancelled");
    b.close().await;
    bench.stop().await;
}
