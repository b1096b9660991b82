//! A restart on the same database loses nothing.

use serde_json::json;

use crate::helpers::*;

on_both! {
    #[tokio::test]
    async fn everything_survives_a_restart(backend: Backend) {
        let reg = start(backend).await;
        let rgt = reg.by(RGT);
        let mut ids = Vec::new();
        for _ in 0..23 {
            ids.push(reg.create(&pointer()).await);
        }
        let other = reg.create(&pointer_for(OTHER_ORG, OTHER_PATIENT)).await;

        let updated_path = format!("/DocumentReference/{}", ids[0]);
        let mut body = rgt.get(&updated_path).send().await.json().unwrap();
        body["status"] = json!("superseded");
        assert_eq!(rgt.put(&updated_path).json(&body).send().await.status, 200);
        let updated = rgt.get(&updated_path).send().await.json().unwrap();
        let deleted = ids.remove(1);
        assert_eq!(
            rgt.delete(&format!("/DocumentReference/{deleted}"))
                .send()
                .await
                .status,
            200
        );
        let db = reg.stop().await;

        let reg = start_in(db, |c| c).await;
        let rgt = reg.by(RGT);
        let r = rgt.get(&updated_path).send().await;
        assert_eq!(r.header("etag"), Some("W/\"2\""));
        assert_eq!(r.json().unwrap(), updated);
        let r = rgt
            .get(&format!("/DocumentReference/{deleted}"))
            .send()
            .await;
        assert_outcome(&r, 404, "not-found", "RESOURCE_NOT_FOUND");
        assert_eq!(
            reg.by(OTHER_ORG)
                .get(&format!("/DocumentReference/{other}"))
                .send()
                .await
                .status,
            200
        );

        // Searches and their continuation tokens carry on across the restart.
        let first = rgt.search(PATIENT, "").await.json().unwrap();
        assert_eq!(first["total"], 22);
        let token = first["meta"]["tag"][0]["code"]
            .as_str()
            .unwrap()
            .to_string();
        let second = rgt
            .search(PATIENT, &format!("&next-page-token={token}"))
            .await
            .json()
            .unwrap();
        let mut seen: Vec<String> = [&first, &second]
            .iter()
            .flat_map(|b| b["entry"].as_array().unwrap().iter())
            .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(seen.len(), 22);
        seen.dedup();
        assert_eq!(seen, ids);

        // And writing goes on from where it was.
        let r = rgt
            .put(&updated_path)
            .header("if-match", "W/\"2\"")
            .json(&updated)
            .send()
            .await;
        assert_success(&r, 200, "RESOURCE_UPDATED");
        assert_eq!(r.header("etag"), Some("W/\"3\""));
    }
}
