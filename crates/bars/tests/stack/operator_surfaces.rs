//! Operator surfaces are safe by default, tried with real `bars` processes: an admin listener
//! open to the network needs a token, admin listeners serve TLS from the role's certificate, and
//! the proxy's admin changes live in its database (kept across a restart on SQLite, shared by two
//! proxies on PostgreSQL, with the record of used client assertions).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bars_http::client::{ClientResponse, HttpClient};
use bars_pki::{Algorithm, SigningKey};
use bars_store::testing::{PgTestSchema, note_skipped};
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use crate::config::{broken, check, example_setup};
use crate::kit::bars_headers;
use crate::processes::{
    Proc, ProcessOptions, ProcessStack, free_port, pki_init, proxy_args, registry_args, s,
    wait_for, write_proxy_config,
};

const TOKEN: &str = "operators-only-admin-token";
const ASSERTION_TYPE: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

/// The message start-up and `bars config check` give for an open admin listener.
fn open_listener_message(addr: &str) -> String {
    format!("admin_listen: {addr} is reachable from other machines, so admin_token is required")
}

/// Runs `bars args` until it exits (true when it failed, with its stderr) or, if it is still
/// running after a bounded wait, stops it (false): a role that started when it should have
/// refused.
fn start_up(dir: &Path, args: &[&str]) -> (bool, String) {
    let log = dir.join("start-up.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bars"))
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut exited = None;
    for _ in 0..300 {
        if let Some(status) = child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if exited.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stderr = std::fs::read_to_string(&log).unwrap();
    (exited.is_some_and(|s| !s.success()), stderr)
}

#[test]
fn an_admin_listener_open_to_the_network_without_a_token_stops_every_role() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    example_setup(dir);
    for (role, token_env) in [
        ("receiver", "BARS_ADMIN_TOKEN"),
        ("proxy", "BARS_PROXY_ADMIN_TOKEN"),
        ("registry", "BARS_REGISTRY_ADMIN_TOKEN"),
    ] {
        let open = format!("0.0.0.0:{}", free_port());
        let file = format!("config/{role}.toml");
        let (exited, stderr) = start_up(dir, &[role, "--config", &file, "--admin-listen", &open]);
        assert!(exited, "{role} started with an open admin listener");
        assert!(
            stderr.contains(&open_listener_message(&open)) && stderr.contains(token_env),
            "{role}: {stderr}"
        );

        // `bars config check` names the same setting for a file that says so...
        let text = std::fs::read_to_string(dir.join(&file)).unwrap();
        let from = text
            .lines()
            .find(|l| l.starts_with("admin_listen = "))
            .unwrap()
            .split('#')
            .next()
            .unwrap()
            .trim()
            .to_string();
        let file = broken(dir, role, &from, "admin_listen = \"0.0.0.0:9901\"");
        let (ok, out) = check(dir, file);
        assert!(!ok, "{role}: {out}");
        assert!(
            out.contains(&format!("error: {}", open_listener_message("0.0.0.0:9901"))),
            "{role}: {out}"
        );
        // ...and accepts it with a token.
        let with_token = std::fs::read_to_string(dir.join(file)).unwrap().replacen(
            "admin_listen = \"0.0.0.0:9901\"",
            &format!("admin_listen = \"0.0.0.0:9901\"\nadmin_token = \"{TOKEN}\""),
            1,
        );
        std::fs::write(dir.join(file), with_token).unwrap();
        let (ok, out) = check(dir, file);
        assert!(ok, "{role} with a token: {out}");
    }
}

/// GET `url` with the admin token (if any) through `client`.
async fn get(client: &HttpClient, url: &str, token: Option<&str>) -> ClientResponse {
    let headers: Vec<(&str, String)> = token
        .map(|t| vec![("authorization", format!("Bearer {t}"))])
        .unwrap_or_default();
    client.call(Method::GET, url, &headers, None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_listeners_serve_tls_from_the_roles_certificate() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    pki_init(dir);
    let ca = std::fs::read_to_string(dir.join("pki/ca.pem")).unwrap();
    let https = HttpClient::new(
        Some(bars_pki::tls::client_config(&ca, None).unwrap()),
        Duration::from_secs(10),
    );
    let plain = HttpClient::plain(Duration::from_secs(10));
    let admin_tls = s(&["--admin-tls", "--admin-token", TOKEN]);

    // The registry's operators' listener, open to the network (allowed: it has a token).
    let (registry, registry_admin) = (free_port(), free_port());
    let loopback = format!("127.0.0.1:{registry_admin}");
    let mut args = s(&["registry"]);
    args.extend(
        registry_args(registry, registry_admin, "sqlite://registry.db")
            .into_iter()
            .map(|a| {
                if a == loopback {
                    format!("0.0.0.0:{registry_admin}")
                } else {
                    a
                }
            }),
    );
    args.extend(admin_tls.clone());
    let _registry = Proc::start(dir, "registry", &args);

    // The proxy, whose admin API registers applications.
    write_proxy_config(dir, "https://127.0.0.1:1");
    let (proxy, proxy_admin) = (free_port(), free_port());
    let mut args = s(&["proxy"]);
    args.extend(proxy_args(proxy, proxy_admin, registry));
    args.extend(admin_tls.clone());
    let _proxy = Proc::start(dir, "proxy", &args);

    // A receiver, whose staff reach it with the CLI.
    let receiver_admin = free_port();
    let mut args = s(&[
        "receiver",
        "--ods-code",
        "RXR01",
        "--service",
        "2000011111=Riverside Urgent Treatment Centre",
        "--database",
        "sqlite://receiver.db",
        "--listen",
        &format!("127.0.0.1:{}", free_port()),
        "--admin-listen",
        &format!("127.0.0.1:{receiver_admin}"),
        "--tls-cert",
        "pki/receiver.pem",
        "--tls-key",
        "pki/receiver.key.pem",
    ]);
    args.extend(admin_tls);
    let _receiver = Proc::start(dir, "receiver", &args);

    for (role, port, path) in [
        ("registry", registry_admin, "/metrics"),
        ("proxy", proxy_admin, "/admin/applications"),
        ("receiver", receiver_admin, "/admin/services"),
    ] {
        let base = format!("https://127.0.0.1:{port}");
        wait_for(&https, &format!("{base}/_ping")).await;
        let answer = get(&https, &format!("{base}{path}"), Some(TOKEN)).await;
        assert_eq!(
            answer.status,
            200,
            "{role}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let refused = get(
            &https,
            &format!("{base}{path}"),
            Some("not-the-admin-token"),
        )
        .await;
        // Each role's own refusal: 401 (BaRS codes), 403 at the registry (Spine codes).
        assert!(
            matches!(refused.status.as_u16(), 401 | 403),
            "{role}: {}",
            refused.status
        );
        assert!(
            plain
                .call(
                    Method::GET,
                    &format!("http://127.0.0.1:{port}/_ping"),
                    &[],
                    None
                )
                .await
                .is_err(),
            "{role}: the admin listener also answered plain HTTP"
        );
    }

    // The staff CLI reaches an admin listener over TLS with the CA it trusts.
    let out = Command::new(env!("CARGO_BIN_EXE_bars"))
        .current_dir(dir)
        .args([
            "outbox",
            "--admin-url",
            &format!("https://127.0.0.1:{receiver_admin}"),
            "--admin-ca",
            "pki/ca.pem",
            "--admin-token",
            TOKEN,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A sender application with a key of its own, as an operator registers it.
fn new_application(client_id: &str) -> (Value, SigningKey) {
    let key = SigningKey::generate(Algorithm::ES256, &format!("{client_id}-1")).unwrap();
    let app = json!({
        "client_id": client_id,
        "name": "Registered at run time",
        "ods_code": "A2002",
        "keys": [key.public_jwk],
        "products": ["booking-and-referral"],
    });
    (app, key)
}

/// A client assertion for `client_id` whose audience is the token endpoint at `base_url`.
fn assertion(client_id: &str, key: &SigningKey, base_url: &str) -> String {
    signed(
        client_id,
        &key.kid,
        key.algorithm.as_str(),
        &key.private_pem,
        base_url,
    )
}

fn signed(client_id: &str, kid: &str, alg: &str, pem: &str, base_url: &str) -> String {
    bars_client::sign_client_assertion(
        client_id,
        kid,
        alg,
        pem,
        &format!("{base_url}/oauth2/token"),
        Duration::from_secs(60),
    )
    .unwrap()
}

/// Posts `assertion` to the token endpoint at `proxy` (host:port).
async fn token_request(https: &HttpClient, proxy: &str, assertion: &str) -> ClientResponse {
    let form = format!(
        "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE}&client_assertion={assertion}"
    );
    https
        .call(
            Method::POST,
            &format!("https://{proxy}/oauth2/token"),
            &[(
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            )],
            Some(Bytes::from(form)),
        )
        .await
        .unwrap()
}

/// An admin API call with a JSON body.
async fn admin_call(
    client: &HttpClient,
    method: Method,
    url: &str,
    body: &Value,
) -> ClientResponse {
    client
        .call(
            method,
            url,
            &[("content-type", "application/json".to_string())],
            Some(Bytes::from(body.to_string())),
        )
        .await
        .unwrap()
}

fn late_endpoint(url: &str) -> Value {
    json!({
        "system": "https://fhir.nhs.uk/Id/dos-service-id",
        "value": "2000022222",
        "name": "Added at run time",
        "url": url,
        "ods_code": "RXR01",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_proxy_keeps_what_its_admin_api_changed() {
    let mut stack = ProcessStack::start(ProcessOptions::default()).await;
    let admin = stack.proxy_admin_url.clone();
    let (app, key) = new_application("late-sender");
    let r = admin_call(
        &stack.plain,
        Method::POST,
        &format!("{admin}/admin/applications"),
        &app,
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let endpoint = late_endpoint(&stack.receiver_url);
    let r = admin_call(
        &stack.plain,
        Method::POST,
        &format!("{admin}/admin/endpoints"),
        &endpoint,
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // The file's own application is removed through the admin API.
    let r = stack
        .plain
        .call(
            Method::DELETE,
            &format!("{admin}/admin/applications/receiver-rxr01"),
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);

    stack.proxy.take().unwrap().interrupt_and_wait();
    stack.start_proxy();
    wait_for(&stack.https, &format!("{}/_ping", stack.proxy_url)).await;

    // The application registered at run time still gets tokens...
    let proxy = stack.proxy_url.trim_start_matches("https://").to_string();
    let r = token_request(
        &stack.https,
        &proxy,
        &assertion("late-sender", &key, &stack.proxy_url),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = r.json().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // ...and routing still knows the endpoint added at run time: its calls reach the receiver.
    let r = stack
        .https
        .call(
            Method::GET,
            &format!("{}/metadata", stack.proxy_url),
            &bars_headers(Some(&token), Some("2000022222")),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let listed = get(&stack.plain, &format!("{admin}/admin/endpoints"), None).await;
    assert!(
        listed.json().unwrap()["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["value"] == "2000022222")
    );
    // The removal stuck, although the unchanged file still lists the application.
    let apps = get(&stack.plain, &format!("{admin}/admin/applications"), None).await;
    let ids: Vec<String> = apps.json().unwrap()["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["client_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["demo-sender", "late-sender"]);
    assert!(stack.dir().join("data/proxy.db").exists());
}

/// A proxy process on `database`, answering for `base_url` like every proxy behind one name.
fn shared_proxy(dir: &Path, name: &str, database: &str, base_url: &str) -> (Proc, u16, u16) {
    let (port, admin) = (free_port(), free_port());
    let mut args = s(&["proxy"]);
    args.extend(proxy_args(port, admin, free_port()));
    args.extend(s(&[
        "--database",
        database,
        "--database-refresh",
        "1",
        "--base-url",
        base_url,
    ]));
    (Proc::start(dir, name, &args), port, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_on_one_postgresql_database_share_applications_endpoints_and_used_assertions() {
    let Some(schema) = PgTestSchema::create().await else {
        note_skipped(module_path!());
        return;
    };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    pki_init(dir);
    write_proxy_config(dir, "https://127.0.0.1:1");
    // Senders address one name; the load balancer behind it picks a proxy.
    let base_url = "https://proxy.bars.test";
    let proxies = [
        shared_proxy(dir, "proxy-1", &schema.url, base_url),
        shared_proxy(dir, "proxy-2", &schema.url, base_url),
    ];
    let ca = std::fs::read_to_string(dir.join("pki/ca.pem")).unwrap();
    let https = HttpClient::new(
        Some(bars_pki::tls::client_config(&ca, None).unwrap()),
        Duration::from_secs(10),
    );
    let plain = HttpClient::plain(Duration::from_secs(10));
    let api: Vec<String> = proxies
        .iter()
        .map(|(_, port, _)| format!("127.0.0.1:{port}"))
        .collect();
    let admin: Vec<String> = proxies
        .iter()
        .map(|(_, _, port)| format!("http://127.0.0.1:{port}"))
        .collect();
    for a in &api {
        wait_for(&https, &format!("https://{a}/_ping")).await;
    }

    // An application and an endpoint registered through proxy 1's admin API...
    let (app, key) = new_application("late-sender");
    let r = admin_call(
        &plain,
        Method::POST,
        &format!("{}/admin/applications", admin[0]),
        &app,
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = admin_call(
        &plain,
        Method::POST,
        &format!("{}/admin/endpoints", admin[0]),
        &late_endpoint("https://127.0.0.1:2"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));

    // ...get a token from proxy 2 once it has refreshed (within its one-second refresh).
    let mut issued = None;
    for _ in 0..100 {
        let r = token_request(&https, &api[1], &assertion("late-sender", &key, base_url)).await;
        if r.status == 200 {
            issued = Some(r);
            break;
        }
        assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(issued.is_some(), "proxy 2 never accepted the application");
    // The endpoint was added after the application, so a refresh of proxy 2 may have fallen
    // between the two calls: it is listed by the next one.
    let mut routed = false;
    for _ in 0..100 {
        let listed = get(&plain, &format!("{}/admin/endpoints", admin[1]), None).await;
        routed = listed.json().unwrap()["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["value"] == "2000022222");
        if routed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(routed, "proxy 2 routes to the endpoint proxy 1 added");

    // An assertion used at proxy 1 and replayed to proxy 2 is refused there.
    let once = assertion("late-sender", &key, base_url);
    let first = token_request(&https, &api[0], &once).await;
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let replayed = token_request(&https, &api[1], &once).await;
    assert_eq!(
        replayed.status,
        401,
        "{}",
        String::from_utf8_lossy(&replayed.body)
    );
    let body = replayed.json().unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already been used"),
        "{body}"
    );

    // The file's applications were written once, though both proxies started with it.
    let demo = std::fs::read_to_string(dir.join("pki/demo-sender.key.pem")).unwrap();
    for a in &api {
        let demo = signed("demo-sender", "demo-sender-1", "ES256", &demo, base_url);
        let r = token_request(&https, a, &demo).await;
        assert_eq!(r.status, 200, "{a}: {}", String::from_utf8_lossy(&r.body));
    }
}
