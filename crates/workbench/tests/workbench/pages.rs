//! The pages over plain HTTP: what is checked before anything is sent, how refusals read, and
//! that the inspector shows what was sent without showing a secret.

use crate::harness::{Bench, SERVICE, text};

/// Whole JWTs on a page: runs of Base64url starting `eyJ` (a JSON object) in three parts.
/// The Base64 JSON BaRS headers are shown whole (they are not secret) but have no dots.
fn whole_jwts(page: &str) -> Vec<String> {
    page.match_indices("eyJ")
        .map(|(i, _)| {
            page[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect::<String>()
        })
        .filter(|run| run.matches('.').count() >= 2)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_decodes_the_exchanges_and_shows_no_secret() {
    let bench = Bench::start().await;
    let directory = bench.get("/").await;
    assert_eq!(directory.status, 200);
    let page = text(&directory);
    // The token request came first, its assertion's claims decoded, then the directory search.
    let token = page.find("Token request").expect("no token request shown");
    let search = page
        .find("GET /HealthcareService")
        .expect("no directory request shown");
    assert!(token < search);
    assert!(
        page.contains("&quot;iss&quot;: &quot;demo-sender&quot;"),
        "claims not decoded"
    );
    assert!(page.contains("signature not shown"));
    // The access-control headers, decoded.
    assert!(page.contains("nhsd-end-user-organisation"));
    assert!(
        page.contains("&quot;value&quot;: &quot;A1001&quot;"),
        "organisation not decoded"
    );
    // Secrets: the bearer token and the access token cut short, the assertion never whole.
    assert!(page.contains("Bearer eyJ") && page.contains("(redacted:"));
    assert_eq!(
        whole_jwts(&page),
        Vec::<String>::new(),
        "a token or assertion is shown whole"
    );
    assert!(!page.contains(bench.stack.sender.private_pem.lines().nth(1).unwrap()));
    // A curl command that leaves the token as a variable.
    assert!(page.contains("$BARS_TOKEN") && page.contains("curl --cacert"));
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_nhs_number_is_refused_by_the_server_before_anything_is_sent() {
    let bench = Bench::start().await;
    let form = "slot=s&start=2030-01-01T09%3A00%3A00%2B00%3A00&end=2030-01-01T09%3A30%3A00%2B00%3A00&nhs=943+476+5918&reason=x";
    let refused = bench
        .post(&format!("/services/{SERVICE}/book"), form, &[])
        .await;
    assert_eq!(refused.status, 422);
    let page = text(&refused);
    assert!(page.contains("check digit"), "{page}");
    assert!(page.contains("aria-invalid=\"true\""));
    assert!(!text(&bench.get("/inspector").await).contains("Book the slot"));
    // Spaces are allowed, as people type them; the same number with the right check digit
    // reaches BaRS (which refuses the made-up slot, in plain words, with its code).
    let sent = bench
        .post(
            &format!("/services/{SERVICE}/book"),
            &form.replace("5918", "5919"),
            &[],
        )
        .await;
    assert_ne!(sent.status, 422);
    assert!(text(&bench.get("/inspector").await).contains("Book the slot"));
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_explained_with_its_bars_code_and_the_outcome_is_picked_out() {
    let bench = Bench::start().await;
    let missing = bench
        .get(&format!(
            "/services/{SERVICE}/appointments/0b7e3f0e-4c1a-4f39-9d2e-8a1b2c3d4e5f"
        ))
        .await;
    assert_eq!(missing.status, 404);
    let page = text(&missing);
    assert!(
        page.contains("The service does not have that appointment or slot."),
        "{page}"
    );
    assert!(page.contains("data-bars-code>REC_NOT_FOUND<"), "{page}");
    assert!(
        page.contains("data-outcome-code>REC_NOT_FOUND<"),
        "the outcome is not picked out"
    );
    assert!(page.contains("NHSD-Target-Identifier") || page.contains("nhsd-target-identifier"));
    assert!(
        page.contains("&quot;value&quot;: &quot;2000011111&quot;"),
        "target not decoded"
    );
    bench.stop().await;
}

/// A sender the proxy does not know: the page says so in plain words, and the inspector shows
/// the token request and the proxy's refusal of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sign_in_is_explained_and_its_token_request_shown() {
    let bench = Bench::start().await;
    let mut sender = crate::harness::sender(&bench.stack);
    sender.credentials.kid = "a-key-the-proxy-never-saw".into();
    let stranger = bars_workbench::RunningWorkbench::start(
        "127.0.0.1:0".parse().unwrap(),
        None,
        sender,
        bars_workbench::ClinicAccess::default(),
    )
    .await
    .unwrap();
    let page = bench
        .http
        .call(http::Method::GET, &format!("{}/", stranger.url), &[], None)
        .await
        .unwrap();
    assert_eq!(page.status, 502);
    let page = text(&page);
    assert!(
        page.contains("This system could not sign in to BaRS. Check its credentials."),
        "{page}"
    );
    assert!(page.contains("Token request"));
    assert!(
        page.contains("a-key-the-proxy-never-saw"),
        "the assertion's header is not shown"
    );
    assert!(
        page.contains("data-status=\"400\"") || page.contains("data-status=\"401\""),
        "{page}"
    );
    assert!(
        !page.contains("GET /HealthcareService"),
        "a call was made without a token"
    );
    stranger.stop().await;
    bench.stop().await;
}
