//! Who may use the workbench: loopback by default, a secret for anything else, and no form
//! posts from other sites.

use bars_workbench::{AccessError, AccessSecret, ClinicAccess, RunningWorkbench, StartError};
use base64::Engine;

use crate::harness::{Bench, sender, text};

const SECRET: &str = "correct horse battery staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_address_needs_the_access_secret_and_then_every_request_carries_it() {
    let bench = Bench::start().await;
    let refused = RunningWorkbench::start(
        "0.0.0.0:0".parse().unwrap(),
        None,
        sender(&bench.stack),
        ClinicAccess::default(),
    )
    .await;
    assert!(
        matches!(
            refused,
            Err(StartError::Access(AccessError::SecretNeeded(_)))
        ),
        "a workbench on every interface started without a secret"
    );

    let open = RunningWorkbench::start(
        "0.0.0.0:0".parse().unwrap(),
        Some(AccessSecret::new(SECRET).unwrap()),
        sender(&bench.stack),
        ClinicAccess::default(),
    )
    .await
    .unwrap();
    let url = open.url.replace("0.0.0.0", "127.0.0.1");
    let basic = |password: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("anyone:{password}"))
        )
    };
    let get = |auth: Option<String>| {
        let http = bench.http.clone();
        let url = format!("{url}/");
        async move {
            let headers: Vec<(&str, String)> =
                auth.into_iter().map(|a| ("authorization", a)).collect();
            http.call(http::Method::GET, &url, &headers, None)
                .await
                .unwrap()
        }
    };
    let none = get(None).await;
    assert_eq!(none.status, 401);
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(get(Some(basic("not the secret at all"))).await.status, 401);
    let allowed = get(Some(basic(SECRET))).await;
    assert_eq!(allowed.status, 200);
    assert!(text(&allowed).contains("Riverside Urgent Treatment Centre"));
    open.stop().await;
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_posted_from_another_site_is_refused_before_anything_is_sent() {
    let bench = Bench::start().await;
    let form = "slot=x&start=2030-01-01T09%3A00%3A00%2B00%3A00&end=2030-01-01T09%3A30%3A00%2B00%3A00&nhs=9434765919&reason=x";
    let cross = bench
        .post(
            "/services/2000011111/book",
            form,
            &[("origin", "https://elsewhere.example".into())],
        )
        .await;
    assert_eq!(cross.status, 403);
    let fetched = bench
        .post(
            "/services/2000011111/book",
            form,
            &[("sec-fetch-site", "cross-site".into())],
        )
        .await;
    assert_eq!(fetched.status, 403);
    let history = text(&bench.get("/inspector").await);
    assert!(
        !history.contains("Book the slot"),
        "a cross-site post reached BaRS: {history}"
    );

    // From the workbench's own page the same post is sent (and the receiver judges it).
    let own = format!(
        "http://{}",
        bench.workbench.url.trim_start_matches("http://")
    );
    let same = bench
        .post("/services/2000011111/book", form, &[("origin", own)])
        .await;
    assert_ne!(same.status, 403);
    assert!(text(&bench.get("/inspector").await).contains("Book the slot"));
    bench.stop().await;
}
