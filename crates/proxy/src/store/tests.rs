//! The proxy's store on both backends: admin changes survive reopening, the seed rule, the
//! shared `jti` record, and a directory picking up another proxy's change.

use std::sync::Arc;

use bars_store::on_both;
use bars_store::testing::{Backend, TestDatabase};

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

on_both! {
    #[tokio::test]
    async fn admin_changes_survive_reopening(backend: Backend) {
        let db = database(backend).await;
        let store = open(&db).await;
        assert!(store.add_endpoint(endpoint("1", "http://a")).await.unwrap());
        assert!(
            !store.add_endpoint(endpoint("1", "http://b")).await.unwrap(),
            "a second endpoint for one target is refused"
        );
        store.put_endpoint(endpoint("2", "http://b")).await.unwrap();
        store.put_application(app("x")).await.unwrap();
        store.put_application(app("y")).await.unwrap();
        drop(store);

        let again = open(&db).await;
        let snapshot = again.snapshot().await.unwrap();
        assert_eq!(
            snapshot.endpoints,
            vec![endpoint("1", "http://a"), endpoint("2", "http://b")]
        );
        assert_eq!(snapshot.applications, vec![app("x"), app("y")]);

        assert!(again.remove_endpoint(DOS, "1").await.unwrap());
        assert!(!again.remove_endpoint(DOS, "1").await.unwrap());
        assert!(again.remove_application("x").await.unwrap());
        assert!(!again.remove_application("x").await.unwrap());
        drop(again);
        let third = open(&db).await.snapshot().await.unwrap();
        assert_eq!(third.endpoints, vec![endpoint("2", "http://b")]);
        assert_eq!(ids(&third.applications), ["y"]);
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
        store.add_endpoint(endpoint("1", "http://a")).await.unwrap();
        moved(store.revision().await.unwrap(), true, "add");
        store.add_endpoint(endpoint("1", "http://z")).await.unwrap();
        moved(store.revision().await.unwrap(), false, "refused duplicate");
        store.put_endpoint(endpoint("1", "http://b")).await.unwrap();
        moved(store.revision().await.unwrap(), true, "replace");
        store.remove_endpoint(DOS, "9").await.unwrap();
        moved(store.revision().await.unwrap(), false, "removing nothing");
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
        let store = open(&db).await;
        let file = Seed {
            endpoints: vec![endpoint("1", "http://a"), endpoint("2", "http://b")],
            applications: vec![app("x")],
        };
        let first = store.seed(file.clone()).await.unwrap();
        assert_eq!(first.endpoints, [format!("{DOS}|1"), format!("{DOS}|2")]);
        assert_eq!(first.applications, ["x"]);

        // The admin API changes one seeded endpoint and removes the other and the application.
        store.put_endpoint(endpoint("1", "http://admin")).await.unwrap();
        assert!(store.remove_endpoint(DOS, "2").await.unwrap());
        assert!(store.remove_application("x").await.unwrap());

        // A restart with the same file keeps every admin change.
        let revision = store.revision().await.unwrap();
        assert_eq!(store.seed(file.clone()).await.unwrap(), Seeded::default());
        assert_eq!(store.revision().await.unwrap(), revision, "nothing written");
        let kept = store.snapshot().await.unwrap();
        assert_eq!(kept.endpoints, vec![endpoint("1", "http://admin")]);
        assert!(kept.applications.is_empty());

        // An operator edits one entry and adds another: those are written, the rest is kept.
        let mut renamed = app("x");
        renamed.name = "Renamed in the file".into();
        let edited = Seed {
            endpoints: vec![
                endpoint("1", "http://edited"),
                endpoint("2", "http://b"),
                endpoint("3", "http://c"),
            ],
            applications: vec![renamed.clone()],
        };
        let written = store.seed(edited).await.unwrap();
        assert_eq!(written.endpoints, [format!("{DOS}|1"), format!("{DOS}|3")]);
        assert_eq!(written.applications, ["x"]);
        let now = store.snapshot().await.unwrap();
        assert_eq!(
            now.endpoints,
            vec![endpoint("1", "http://edited"), endpoint("3", "http://c")]
        );
        assert_eq!(now.applications, vec![renamed]);
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
