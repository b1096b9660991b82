//! Concurrent writers to one pointer: with If-Match exactly one wins and the rest are told
//! (412); without it every write lands, one after another, and no version is lost.

use serde_json::json;

use crate::helpers::*;

on_both! {
    #[tokio::test]
    async fn with_if_match_exactly_one_concurrent_update_wins(backend: Backend) {
        let reg = start(backend).await;
        let id = reg.create(&pointer()).await;
        let path = format!("/DocumentReference/{id}");
        let body = reg.by(RGT).get(&path).send().await.json().unwrap();
        let attempts = (0..8).map(|i| {
            let mut changed = body.clone();
            changed["description"] = json!(format!("attempt {i}"));
            let req = reg
                .by(RGT)
                .put(&path)
                .header("if-match", "W/\"1\"")
                .json(&changed);
            async move { req.send().await }
        });
        let responses = futures_join(attempts).await;
        let won = responses.iter().filter(|r| r.status == 200).count();
        let told = responses.iter().filter(|r| r.status == 412).count();
        assert_eq!((won, told), (1, 7));
        for r in responses.iter().filter(|r| r.status == 412) {
            assert_outcome(r, 412, "conflict", "PRECONDITION_FAILED");
        }
        assert_eq!(
            reg.by(RGT).get(&path).send().await.header("etag"),
            Some("W/\"2\"")
        );
    }
}

on_both! {
    #[tokio::test]
    async fn without_if_match_concurrent_updates_all_land(backend: Backend) {
        let reg = start(backend).await;
        let id = reg.create(&pointer()).await;
        let path = format!("/DocumentReference/{id}");
        let body = reg.by(RGT).get(&path).send().await.json().unwrap();
        let writers = 4;
        let attempts = (0..writers).map(|i| {
            let mut changed = body.clone();
            changed["description"] = json!(format!("writer {i}"));
            let req = reg.by(RGT).put(&path).json(&changed);
            async move { req.send().await }
        });
        for r in futures_join(attempts).await {
            assert_success(&r, 200, "RESOURCE_UPDATED");
        }
        let r = reg.by(RGT).get(&path).send().await;
        assert_eq!(
            r.header("etag"),
            Some(format!("W/\"{}\"", writers + 1).as_str())
        );
    }
}

/// Runs the requests at the same time (each on its own task) and collects the answers in order.
async fn futures_join<F>(
    requests: impl Iterator<Item = F>,
) -> Vec<bars_http::client::ClientResponse>
where
    F: std::future::Future<Output = bars_http::client::ClientResponse> + Send + 'static,
{
    let tasks: Vec<_> = requests.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}
