//! The reports a run writes say the same thing: JSON (with evidence), JUnit and HTML.

use serde_json::Value;

use crate::support::{self, Fault, Faulty};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_junit_and_html_report_the_same_failures() {
    let faulty = Faulty::start(Fault::BareHeaders).await;
    let report = support::run(support::direct(&faulty.base)).await;
    faulty.stop().await;
    let failed = report.failed();
    assert!(failed.contains(&"REC-TRN-001"), "{failed:?}");

    let json: Value = serde_json::from_str(&report.json()).unwrap();
    let trn = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "REC-TRN-001")
        .unwrap();
    assert_eq!(trn["result"], "failed", "{trn}");
    assert_eq!(trn["level"], "SHALL");
    assert!(
        !trn["evidence"].as_array().unwrap().is_empty(),
        "no evidence: {trn}"
    );
    assert!(trn["requirement"].as_str().unwrap().contains("3.5"));

    let junit = report.junit();
    assert!(
        junit.contains(&format!("failures=\"{}\"", failed.len())),
        "{junit}"
    );
    assert_eq!(junit.matches("<failure ").count(), failed.len());

    let html = report.html();
    assert!(
        html.contains("<div class=\"check failed\"><h3>REC-TRN-001"),
        "REC-TRN-001 is not marked failed in the HTML"
    );
    assert_eq!(html.matches("class=\"check failed\"").count(), failed.len());
    assert!(
        !html.contains("<script src") && !html.contains("<link "),
        "the HTML is not self-contained"
    );
}
