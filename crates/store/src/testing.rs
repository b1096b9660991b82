//! Test support: a fresh PostgreSQL schema per test, so suites run in parallel against one
//! server without seeing each other's rows.
//!
//! The server comes from `BARS_TEST_POSTGRES_URL`; without it, PostgreSQL variants of tests
//! say they were skipped and pass, unless `BARS_REQUIRE_POSTGRES=1` (set by CI, which starts
//! a server) says they must run: then a variant that would skip fails instead. A schema is
//! dropped when its [`PgTestSchema`] is dropped; schemas left behind by a killed test run are
//! swept the next time a run starts, after an hour, so they can still be inspected meanwhile.
//!
//! Compiled only with the `testing` feature, which the crates' dev-dependencies turn on.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support behind the `testing` feature: a set-up that fails is a failing test"
)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Names the PostgreSQL server tests may use, e.g. `postgres://postgres@127.0.0.1:5432/test`.
pub const POSTGRES_URL_VAR: &str = "BARS_TEST_POSTGRES_URL";

const PREFIX: &str = "bars_t_";
/// Schemas older than this, left by runs that never dropped them, are swept.
const STALE_SECS: u64 = 3600;

static SWEPT: AtomicBool = AtomicBool::new(false);

/// A schema of its own on the test server; dropped (with everything in it) on drop.
pub struct PgTestSchema {
    /// The server URL with the schema as the search path: what a store under test opens.
    pub url: String,
    base: String,
    name: String,
}

/// The server URL, if the environment names one.
pub fn server_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// Set to `1` where the PostgreSQL variants must run (CI): skipping one is then a failure.
pub const REQUIRE_POSTGRES_VAR: &str = "BARS_REQUIRE_POSTGRES";

/// Whether this run must not skip PostgreSQL variants.
pub fn postgres_required() -> bool {
    std::env::var(REQUIRE_POSTGRES_VAR).is_ok_and(|v| v.trim() == "1")
}

/// Reports a PostgreSQL variant that cannot run here: a note, or a failure when
/// [`postgres_required`] (a skip must not pass for a run).
pub fn note_skipped(test: &str) {
    note_skipped_because(test, &format!("{POSTGRES_URL_VAR} not set"));
}

/// [`note_skipped`] with the reason given.
pub fn note_skipped_because(test: &str, reason: &str) {
    if postgres_required() {
        panic!("{test}: cannot run ({reason}) but {REQUIRE_POSTGRES_VAR}=1 requires it");
    }
    eprintln!("{test}: skipped: {reason}");
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn admin(base: &str) -> tokio_postgres::Client {
    crate::postgres::connect_client(base)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} names a server that does not answer: {e}"))
}

impl PgTestSchema {
    /// A new, empty schema; `None` when no test server is configured (a failure instead when
    /// [`postgres_required`]).
    pub async fn create() -> Option<PgTestSchema> {
        let Some(base) = server_url() else {
            if postgres_required() {
                panic!("{REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_URL_VAR} is not set");
            }
            return None;
        };
        let client = admin(&base).await;
        if !SWEPT.swap(true, Ordering::SeqCst) {
            sweep(&client).await;
        }
        let name = format!(
            "{PREFIX}{}_{}",
            now_secs(),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("the test schema is created");
        let separator = if base.contains('?') { '&' } else { '?' };
        // A small pool: many tests run at once against one server.
        let url = format!("{base}{separator}options=-c%20search_path%3D{name}&pool_size=4");
        Some(PgTestSchema { url, base, name })
    }

    /// The schema's name, for tests that look inside with their own connection.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL with more store parameters (e.g. `statement_timeout=200ms`).
    pub fn url_with(&self, params: &str) -> String {
        format!("{}&{params}", self.url)
    }

    /// `host:port` of the test server, for a test that puts something between it and a role.
    pub fn server_addr(&self) -> String {
        let rest = self.base.split_once("://").map_or("", |(_, r)| r);
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:5432")
        }
    }

    /// The schema's URL, but reaching the server at `addr` (`host:port`) instead.
    pub fn url_via(&self, addr: &str) -> String {
        let (scheme, rest) = self.url.split_once("://").expect("a URL");
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let user = authority
            .rsplit_once('@')
            .map_or(String::new(), |(u, _)| format!("{u}@"));
        format!("{scheme}://{user}{addr}{tail}")
    }

    /// A plain connection to the schema, for looking at rows directly.
    pub async fn connect(&self) -> tokio_postgres::Client {
        let client = admin(&self.base).await;
        client
            .batch_execute(&format!("SET search_path TO {}", self.name))
            .await
            .expect("search path set");
        client
    }
}

impl Drop for PgTestSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop may run inside or outside a runtime: a thread of its own can always block.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client = crate::postgres::connect_client(&base).await.ok()?;
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("note: test schema {} was not dropped", self.name);
        }
    }
}

/// Drops test schemas older than an hour: those of runs that were killed.
async fn sweep(client: &tokio_postgres::Client) {
    let Ok(rows) = client
        .query(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)",
            &[&PREFIX],
        )
        .await
    else {
        return;
    };
    let cutoff = now_secs().saturating_sub(STALE_SECS);
    for row in rows {
        let name: String = row.get(0);
        let born = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if born.is_some_and(|b| b < cutoff) {
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .await;
        }
    }
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// An empty database of either backend, for one test: a file in a temporary directory, or a
/// schema of its own. Everything is removed when it is dropped.
pub struct TestDatabase {
    pub backend: Backend,
    dir: std::path::PathBuf,
    file: std::path::PathBuf,
    schema: Option<PgTestSchema>,
}

impl TestDatabase {
    /// A fresh database; `None` for PostgreSQL when no test server is configured (the caller
    /// reports the test as skipped).
    pub async fn new(backend: Backend, file_name: &str) -> Option<TestDatabase> {
        let dir = std::env::temp_dir().join(format!("bars-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let schema = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => match PgTestSchema::create().await {
                Some(s) => Some(s),
                None => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return None;
                }
            },
        };
        Some(TestDatabase {
            backend,
            file: dir.join(file_name),
            dir,
            schema,
        })
    }

    /// A directory that lives as long as the database, for a test's other files.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The SQLite file (meaningful for the SQLite backend only).
    pub fn file(&self) -> &std::path::Path {
        &self.file
    }

    /// The database URL a role opens.
    pub fn url(&self) -> String {
        match &self.schema {
            Some(s) => s.url.clone(),
            None => format!("sqlite://{}", self.file.display()),
        }
    }

    /// The PostgreSQL URL with extra store parameters; the plain URL for SQLite.
    pub fn url_with(&self, params: &str) -> String {
        match &self.schema {
            Some(s) => s.url_with(params),
            None => self.url(),
        }
    }

    /// Runs one statement directly (placeholders `$1`, `$2`, ... on both backends); returns
    /// the rows changed.
    pub async fn execute(&self, sql: &str, args: &[&str]) -> u64 {
        match &self.schema {
            Some(s) => {
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
                    .iter()
                    .map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                s.connect().await.execute(sql, &params).await.unwrap()
            }
            None => {
                let db = rusqlite::Connection::open(&self.file).unwrap();
                db.execute(sql, rusqlite::params_from_iter(args.iter()))
                    .unwrap() as u64
            }
        }
    }

    /// The first column of the first row of a query that returns one integer.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match &self.schema {
            Some(s) => s.connect().await.query_one(sql, &[]).await.unwrap().get(0),
            None => {
                let db = rusqlite::Connection::open(&self.file).unwrap();
                db.query_row(sql, [], |r| r.get(0)).unwrap()
            }
        }
    }

    /// Holds writes to `table` back from another connection, as another process could: SQLite's
    /// write lock (the whole file), or PostgreSQL's EXCLUSIVE table lock (reads go on).
    pub async fn lock_writes(&self, table: &str) -> WriteLock {
        match &self.schema {
            Some(s) => {
                let client = s.connect().await;
                client
                    .batch_execute(&format!("BEGIN; LOCK TABLE {table} IN EXCLUSIVE MODE"))
                    .await
                    .unwrap();
                WriteLock::Postgres(client)
            }
            None => {
                let db = rusqlite::Connection::open(&self.file).unwrap();
                db.execute_batch("BEGIN EXCLUSIVE").unwrap();
                WriteLock::Sqlite(db)
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A lock taken by [`TestDatabase::lock_writes`]; held until released.
pub enum WriteLock {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

impl WriteLock {
    pub async fn release(self) {
        match self {
            WriteLock::Sqlite(db) => db.execute_batch("COMMIT").unwrap(),
            WriteLock::Postgres(client) => client.batch_execute("COMMIT").await.unwrap(),
        }
    }
}

/// Generates a SQLite and a PostgreSQL variant of a test from one body taking the backend:
///
/// ```ignore
/// on_both! {
///     #[tokio::test]
///     async fn books(backend: Backend) { let rx = start(backend).await; ... }
/// }
/// ```
///
/// gives `books::sqlite` and `books::postgres`; the latter says it was skipped and passes when
/// `BARS_TEST_POSTGRES_URL` is unset (and fails then if `BARS_REQUIRE_POSTGRES=1`).
#[macro_export]
macro_rules! on_both {
    ($(#[$attr:meta])* async fn $name:ident($backend:ident: Backend) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($backend: $crate::testing::Backend) $body

            $(#[$attr])*
            async fn sqlite() {
                run($crate::testing::Backend::Sqlite).await
            }

            $(#[$attr])*
            async fn postgres() {
                if $crate::testing::server_url().is_none() {
                    $crate::testing::note_skipped(module_path!());
                    return;
                }
                run($crate::testing::Backend::Postgres).await
            }
        }
    };
}
