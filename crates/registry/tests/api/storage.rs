//! When storage fails the caller hears it as FHIR: 503 with Retry-After when a retry may help,
//! 500 when it will not, and never the database's own words.

use std::sync::Arc;

use async_trait::async_trait;
use bars_registry::store::{
    NewPointer, PointerPage, PointerQuery, RegistryStore, StoredPointer, WriteError,
};
use bars_store::StoreError;

use crate::helpers::*;

/// A store whose every call fails with the same error.
struct Broken(StoreError);

#[async_trait]
impl RegistryStore for Broken {
    async fn create(&self, _: NewPointer, _: Option<String>) -> Result<StoredPointer, WriteError> {
        Err(WriteError::Store(self.0.clone()))
    }
    async fn get(&self, _: &str) -> Result<Option<StoredPointer>, StoreError> {
        Err(self.0.clone())
    }
    async fn update(&self, _: NewPointer, _: u64) -> Result<StoredPointer, WriteError> {
        Err(WriteError::Store(self.0.clone()))
    }
    async fn delete(&self, _: &str, _: u64) -> Result<(), WriteError> {
        Err(WriteError::Store(self.0.clone()))
    }
    async fn search(&self, _: PointerQuery) -> Result<PointerPage, StoreError> {
        Err(self.0.clone())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
}

async fn every_operation(reg: &TestRegistry) -> Vec<bars_http::client::ClientResponse> {
    let rgt = reg.by(RGT);
    let path = format!("/DocumentReference/{RGT}-1");
    let mut body = pointer();
    body["id"] = serde_json::json!(format!("{RGT}-1"));
    vec![
        rgt.post("/DocumentReference").json(&pointer()).send().await,
        rgt.get(&path).send().await,
        rgt.put(&path).json(&body).send().await,
        rgt.delete(&path).send().await,
        rgt.search(PATIENT, "").await,
    ]
}

#[tokio::test]
async fn unavailable_storage_is_a_503_with_retry_after() {
    let broken = Arc::new(Broken(StoreError::Unavailable(
        "database is locked (SQLITE_BUSY)".into(),
    )));
    let reg = start_on_store(None, broken, |c| c).await;
    for r in every_operation(&reg).await {
        assert_outcome(&r, 503, "transient", "SERVICE_UNAVAILABLE");
        assert_eq!(r.header("retry-after"), Some("1"));
        assert!(!body_text(&r).contains("SQLITE"), "{}", body_text(&r));
    }
}

#[tokio::test]
async fn a_failing_store_is_a_500() {
    let broken = Arc::new(Broken(StoreError::Internal(
        "malformed database schema".into(),
    )));
    let reg = start_on_store(None, broken, |c| c).await;
    for r in every_operation(&reg).await {
        assert_outcome(&r, 500, "no-store", "INTERNAL_SERVER_ERROR");
        assert!(!body_text(&r).contains("malformed"), "{}", body_text(&r));
    }
}
