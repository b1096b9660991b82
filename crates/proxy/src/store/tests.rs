//! The proxy's store on both backends: admin changes survive reopening, the seed rule, the
//! shared `jti` record, and a directory picking up another proxy's change.

use std::sync::Arc;

use bars_store::on_both;
use bars_store::testing::{Backend, TestDatabase};

use bars_fhir::headers::TargetIdentifier;

use super::*;
use crate::auth::Applications;
use crate::auth::testkit;
use crate::directory::Directory;

const DOS: &str = "https://fhir.nhs.uk/Id/dos-service-id";

fn endpoint(value: &str, url: &str) -> Endpoint {
    Endpoint {
        system: DOS.into(),
        value: value.into(),
        name: format!("Service {value}"),
        url: url.into(),
        ods_code: Some("RXR01".into()),
    }
}

fn app(client_id: &str) -> Application {
    testkit::application(client_id, &[testkit::ec_key()], true)
}

async fn database(backend: Backend) -> TestDatabase {
    TestDatabase::new(backend, "proxy.db")
        .await
        .expect("a test database")
}

async fn open(db: &TestDatabase) -> Arc<dyn ProxyStore> {
    open_store(&db.url()).await.expect("the store opens")
}

fn ids(apps: &[Application]) -> Vec<&str> {
    apps.iter().map(|a| a.client_id.as_str()).collect()
}

fn record(kind: &str, id: &str, version: i64, body: &str) -> StoredRecord {
    StoredRecord {
        kind: kind.into(),
        id: id.into(),
        version,
        last_updated: "2026-12-01T10:00:00.000Z".into(),
        body: body.into(),
    }
}

fn seed_of(endpoints: &[Endpoint], applications: Vec<Application>) -> SeedRows {
    SeedRows {
        endpoints: crate::epc::seed::seed_rows(endpoints, bars_fhir::instant::Instant::now())
            .unwrap(),
        applications,
    }
}

on_both! {
    #[tokio::test]
    async fn catalogue_and_application_changes_survive_reopening(backend: Backend) {
        let db = database(backend).await;
        let store = open(&db).await;
        let rev = store.revision().await.unwrap();
        let a = record("Endpoint", "a", 1, r#"{"resourceType":"Endpoint"}"#);
        let b = record("HealthcareService", "b", 1, r#"{"resourceType":"HealthcareService"}"#);
        assert!(store
            .write_catalogue(rev, vec![CatalogueChange::Put(a.clone()), CatalogueChange::Put(b.clone())])
            .await
            .unwrap());
        store.put_application(app("x")).await.unwrap();
        store.put_application(app("y")).await.unwrap();
        drop(store);

        let again = open(&db).await;
        let snapshot = again.snapshot().await.unwrap();
        assert_eq!(snapshot.records, vec![a.clone(), b.clone()]);
        assert_eq!(snapshot.applications, vec![app("x"), app("y")]);

        let a2 = record("Endpoint", "a", 2, r#"{"resourceType":"Endpoint","name":"2"}"#);
        assert!(again
            .write_catalogue(
                snapshot.revision,
                vec![
                    CatalogueChange::Put(a2.clone()),
                    CatalogueChange::Delete { kind: "HealthcareService".into(), id: "b".into() },
                ],
            )
            .await
            .unwrap());
        assert!(again.remove_application("x").await.unwrap());
        assert!(!again.remove_application("x").await.unwrap());
        drop(again);
        let third = open(&db).await.snapshot().await.unwrap();
        assert_eq!(third.records, vec![a2]);
        assert_eq!(ids(&third.applications), ["y"]);
    }
}

on_both! {
    #[tokio::test]
    async fn a_catalogue_write_decided_on_an_old_revision_changes_nothing(backend: Backend) {
        let db = database(backend).await;
        let (one, other) = (open(&db).await, open(&db).await);
        let seen = one.revision().await.unwrap();
        let first = record("Endpoint", "e", 1, "{}");
        let second = record("Endpoint", "e", 1, r#"{"lost":true}"#);
        // Two proxies decided on the same revision: the first write wins...
        assert!(one.write_catalogue(seen, vec![CatalogueChange::Put(first.clone())]).await.unwrap());
        // ...and the second, decided on a catalogue that has since changed, is not applied.
        assert!(!other.write_catalogue(seen, vec![CatalogueChange::Put(second)]).await.unwrap());
        let now = other.snapshot().await.unwrap();
        assert_eq!(now.records, vec![first]);
        assert_eq!(now.revision, seen + 1);
    }
}

on_both! {
    #[tokio::test]
    async fn every_change_and_only_a_change_moves_the_revision(backend: Backend) {
        let db = database(backend).await;
        let store = open(&db).await;
        let mut last = store.revision().await.unwrap();
        let mut moved = |now: i64, expected: bool, what: &str| {
            assert_eq!(now > last, expected, "{what}: {last} -> {now}");
            assert!(now >= last, "{what}: the revision never goes back");
            last = now;
        };
        let rev = store.revision().await.unwrap();
        store.write_catalogue(rev, vec![CatalogueChange::Put(record("Endpoint", "1", 1, "{}"))]).await.unwrap();
        moved(store.revision().await.unwrap(), true, "catalogue write");
        store.write_catalogue(rev, vec![CatalogueChange::Put(record("Endpoint", "2", 1, "{}"))]).await.unwrap();
        moved(store.revision().await.unwrap(), false, "refused stale write");
        store.put_application(app("x")).await.unwrap();
        moved(store.revision().await.unwrap(), true, "application");
        store.remove_application("x").await.unwrap();
        moved(store.revision().await.unwrap(), true, "application removed");
        store.use_jti("x", "j", 100, 0).await.unwrap();
        moved(store.revision().await.unwrap(), false, "a jti is not a directory change");
        let snapshot = store.snapshot().await.unwrap();
        assert_eq!(snapshot.revision, last);
    }
}

on_both! {
    #[tokio::test]
    async fn a_seed_writes_what_is_new_or_edited_in_the_file_and_keeps_admin_changes(backend: Backend) {
        let db = database(backend).await;
        let directory = Directory::open(
            open(&db).await,
            Seed {
                endpoints: vec![endpoint("1", "http://a"), endpoint("2", "http://b")],
                applications: vec![app("x")],
            },
            Arc::default(),
            Applications::default(),
        )
        .await
        .unwrap();
        assert_eq!(directory.catalogue.list(), vec![endpoint("1", "http://a"), endpoint("2", "http://b")]);

        // The admin API changes one seeded endpoint and removes the other and the application.
        directory.replace_endpoint(endpoint("1", "http://admin")).await.unwrap();
        assert!(directory.remove_endpoint(&TargetIdentifier::dos("2")).await.unwrap());
        assert!(directory.remove_application("x").await.unwrap());

        // A restart with the same file keeps every admin change.
        let store = open(&db).await;
        let revision = store.revision().await.unwrap();
        let file = seed_of(&[endpoint("1", "http://a"), endpoint("2", "http://b")], vec![app("x")]);
        assert_eq!(store.seed(file).await.unwrap(), Seeded::default());
        assert_eq!(store.revision().await.unwrap(), revision, "nothing written");
        let kept = store.snapshot().await.unwrap();
        assert_eq!(kept.records.len(), 2, "one service and its endpoint");
        assert!(kept.applications.is_empty());

        // An operator edits one entry and adds another: those are written, the rest is kept.
        let mut renamed = app("x");
        renamed.name = "Renamed in the file".into();
        let edited = seed_of(
            &[endpoint("1", "http://edited"), endpoint("2", "http://b"), endpoint("3", "http://c")],
            vec![renamed.clone()],
        );
        let written = store.seed(edited).await.unwrap();
        assert_eq!(written.endpoints, [format!("{DOS}|1"), format!("{DOS}|3")]);
        assert_eq!(written.applications, ["x"]);
        assert!(directory.refresh().await.unwrap());
        assert_eq!(
            directory.catalogue.list(),
            vec![endpoint("1", "http://edited"), endpoint("3", "http://c")]
        );
        assert_eq!(directory.applications.list(), vec![renamed]);
        // The edited entry's records moved on a version rather than starting again.
        let state = directory.catalogue.state();
        let service = state.services_for(&TargetIdentifier::dos("1")).next().unwrap();
        assert_eq!(service.meta.version, 3, "seeded, replaced by the admin API, edited in the file");
    }
}

on_both! {
    #[tokio::test]
    async fn a_jti_is_used_once_until_its_time_passes_and_is_then_purged(backend: Backend) {
        let db = database(backend).await;
        let store = open(&db).await;
        assert!(store.use_jti("a", "j", 200, 100).await.unwrap());
        assert!(!store.use_jti("a", "j", 200, 150).await.unwrap(), "replayed");
        assert!(
            store.use_jti("b", "j", 200, 150).await.unwrap(),
            "another client's jti is another assertion"
        );
        // At its time the entry still counts (the assertion is still acceptable then).
        assert!(!store.use_jti("a", "j", 300, 200).await.unwrap());
        // After it, the old entry no longer stands in the way.
        assert!(store.use_jti("a", "j", 400, 201).await.unwrap());

        store.use_jti("c", "old", 250, 100).await.unwrap();
        let before = db.scalar("SELECT COUNT(*) FROM proxy_replay").await;
        assert_eq!(before, 3);
        assert_eq!(store.purge_jtis(300).await.unwrap(), 2, "b/j and c/old");
        assert_eq!(db.scalar("SELECT COUNT(*) FROM proxy_replay").await, 1);
        assert!(
            !store.use_jti("a", "j", 500, 300).await.unwrap(),
            "the live entry survived the purge"
        );
    }
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_proxies_racing_one_jti_have_exactly_one_winner(backend: Backend) {
        let db = database(backend).await;
        let stores = [open(&db).await, open(&db).await];
        let barrier = Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = stores[i % 2].clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.use_jti("a", "same", 1000, 0).await.unwrap()
                })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            wins += usize::from(task.await.unwrap());
        }
        assert_eq!(wins, 1);
    }
}

on_both! {
    #[tokio::test]
    async fn a_directory_sees_another_proxys_change_at_its_next_refresh(backend: Backend) {
        let db = database(backend).await;
        let here = Directory::open(
            open(&db).await,
            Seed::default(),
            Arc::default(),
            Applications::default(),
        )
        .await
        .unwrap();
        let there = Directory::open(
            open(&db).await,
            Seed::default(),
            Arc::default(),
            Applications::default(),
        )
        .await
        .unwrap();

        here.put_application(app("x")).await.unwrap();
        here.add_endpoint(endpoint("1", "http://a/")).await.unwrap();
        // The proxy that made the change sees it at once...
        assert!(here.applications.get("x").is_some());
        assert_eq!(here.catalogue.list(), vec![endpoint("1", "http://a")]);
        // ...the other at its next refresh, and only then.
        assert!(there.applications.get("x").is_none());
        assert!(there.refresh().await.unwrap());
        assert!(there.applications.get("x").is_some());
        assert_eq!(there.catalogue.list(), vec![endpoint("1", "http://a")]);
        assert!(!there.refresh().await.unwrap(), "nothing new");

        assert!(there.remove_application("x").await.unwrap());
        assert!(here.refresh().await.unwrap());
        assert!(here.applications.get("x").is_none());
    }
}

#[tokio::test]
async fn an_invalid_seed_entry_stops_the_directory_from_opening() {
    let db = database(Backend::Sqlite).await;
    let mut bad = app("x");
    bad.keys
        .push(serde_json::json!({"kty": "EC", "crv": "P-256"}));
    let refused = Directory::open(
        open(&db).await,
        Seed {
            endpoints: vec![],
            applications: vec![bad],
        },
        Arc::default(),
        Applications::default(),
    )
    .await;
    assert!(matches!(
        refused,
        Err(crate::directory::DirectoryError::Application(_))
    ));
    let refused = Directory::open(
        open(&db).await,
        Seed {
            endpoints: vec![endpoint("1", "ftp://a")],
            applications: vec![],
        },
        Arc::default(),
        Applications::default(),
    )
    .await;
    assert!(matches!(
        refused,
        Err(crate::directory::DirectoryError::Catalogue(_))
    ));
}

#[tokio::test]
async fn seeded_endpoints_are_kept_the_way_the_catalogue_keeps_them() {
    let db = database(Backend::Sqlite).await;
    let directory = Directory::open(
        open(&db).await,
        Seed {
            endpoints: vec![endpoint("1", "https://rx.example/base/")],
            applications: vec![],
        },
        Arc::default(),
        Applications::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        directory.catalogue.list(),
        vec![endpoint("1", "https://rx.example/base")]
    );
}
