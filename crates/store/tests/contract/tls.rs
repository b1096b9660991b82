//! The link to PostgreSQL as `sslmode` sets it, against a real server that has SSL on with a
//! certificate for `localhost`, 127.0.0.1 and ::1 from a CA made at run time (`.ci/run`
//! makes both and names the CA in `BARS_TEST_POSTGRES_CA`). The server itself says whether a
//! session is encrypted (`pg_stat_ssl`); a refusal must name what did not verify.

use std::net::ToSocketAddrs;
use std::path::PathBuf;

use bars_store::postgres::PgDatabase;
use bars_store::testing::{PgTestSchema, note_skipped_because, server_url};

/// Names the CA file that signed the test server's certificate.
const CA_VAR: &str = "BARS_TEST_POSTGRES_CA";

/// The test server's CA, or `None` (after the skip note, a failure when PostgreSQL is
/// required) where the server is not set up for TLS.
fn server_ca(test: &str) -> Option<PathBuf> {
    match std::env::var(CA_VAR).ok().filter(|v| !v.trim().is_empty()) {
        Some(ca) if server_url().is_some() => Some(PathBuf::from(ca)),
        _ => {
            note_skipped_because(test, &format!("{CA_VAR} or BARS_TEST_POSTGRES_URL not set"));
            None
        }
    }
}

/// The session's own encryption, as the server reports it.
async fn encrypted(db: &PgDatabase) -> bool {
    db.autocommit((), |c, _| {
        Box::pin(async move {
            let row = c
                .query_one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )
                .await
                .map_err(bars_store::postgres::errors::db)?;
            Ok::<_, bars_store::StoreError>(row.get::<_, bool>(0))
        })
    })
    .await
    .unwrap()
}

fn verify_full(ca: &std::path::Path) -> String {
    format!("sslmode=verify-full&sslrootcert={}", ca.display())
}

/// The schema's URL, but naming the server `name` while still reaching its address (libpq's
/// `hostaddr`): what a URL with a host name the certificate does not carry looks like.
fn named(schema: &PgTestSchema, name: &str, params: &str) -> String {
    let addr = schema.server_addr();
    let ip = addr
        .to_socket_addrs()
        .unwrap()
        .next()
        .expect("the test server's address resolves")
        .ip();
    let port = addr.rsplit_once(':').unwrap().1;
    let url = schema.url_via(&format!("{name}:{port}"));
    format!("{url}&hostaddr={ip}&{params}")
}

/// A CA that signed nothing the server holds, in a PEM file of its own.
fn unrelated_ca(dir: &std::path::Path) -> PathBuf {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&key).unwrap();
    let path = dir.join("other-ca.pem");
    std::fs::write(&path, ca.pem()).unwrap();
    path
}

#[tokio::test]
async fn verify_full_with_the_servers_ca_opens_an_encrypted_store() {
    let Some(ca) = server_ca("verify_full_with_the_servers_ca_opens_an_encrypted_store") else {
        return;
    };
    let schema = PgTestSchema::create().await.unwrap();
    let url = schema.url_with(&verify_full(&ca));
    // The whole store opens (its migrations run over the verified link) and works.
    let store = bars_store::open(&url).await.unwrap();
    store.ping().await.unwrap();
    let db = PgDatabase::connect(&url, &[]).await.unwrap();
    assert!(encrypted(&db).await, "the server sees a plain session");
}

#[tokio::test]
async fn verify_full_accepts_a_name_the_certificate_carries() {
    let Some(ca) = server_ca("verify_full_accepts_a_name_the_certificate_carries") else {
        return;
    };
    let schema = PgTestSchema::create().await.unwrap();
    let db = PgDatabase::connect(&named(&schema, "localhost", &verify_full(&ca)), &[])
        .await
        .unwrap();
    assert!(encrypted(&db).await);
}

#[tokio::test]
async fn a_wrong_ca_is_refused_at_start_up_naming_the_ca() {
    let Some(_) = server_ca("a_wrong_ca_is_refused_at_start_up_naming_the_ca") else {
        return;
    };
    let schema = PgTestSchema::create().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let other = unrelated_ca(dir.path());
    let error = bars_store::open(&schema.url_with(&verify_full(&other)))
        .await
        .err()
        .expect("a server whose certificate the CA did not sign is refused")
        .to_string();
    let says = format!(
        "its certificate is not signed by the CA in sslrootcert={}",
        other.display()
    );
    assert!(error.contains(&says), "{error}");
    assert!(error.contains("sslmode=verify-full"), "{error}");
}

#[tokio::test]
async fn a_host_name_the_certificate_does_not_carry_is_refused() {
    let Some(ca) = server_ca("a_host_name_the_certificate_does_not_carry_is_refused") else {
        return;
    };
    let schema = PgTestSchema::create().await.unwrap();
    // The right server and the right CA, under a name its certificate does not carry.
    let url = named(&schema, "db.invalid", &verify_full(&ca));
    let error = bars_store::open(&url)
        .await
        .err()
        .expect("a certificate for another name is refused")
        .to_string();
    assert!(
        error.contains("at db.invalid") && error.contains("not issued for the host name"),
        "{error}"
    );
}

#[tokio::test]
async fn require_encrypts_without_a_ca_and_disable_stays_plain() {
    let Some(_) = server_ca("require_encrypts_without_a_ca_and_disable_stays_plain") else {
        return;
    };
    let schema = PgTestSchema::create().await.unwrap();
    let required = PgDatabase::connect(&schema.url_with("sslmode=require"), &[])
        .await
        .unwrap();
    assert!(
        encrypted(&required).await,
        "sslmode=require gave a plain session"
    );
    let plain = PgDatabase::connect(&schema.url_with("sslmode=disable"), &[])
        .await
        .unwrap();
    assert!(
        !encrypted(&plain).await,
        "sslmode=disable gave an encrypted session"
    );
    // The test server is on loopback: without sslmode its URL stays plain, as other suites use it.
    let default = PgDatabase::connect(&schema.url, &[]).await.unwrap();
    assert!(!encrypted(&default).await);
}
