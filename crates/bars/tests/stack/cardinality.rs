//! Nothing a client sends grows what an operator scrapes (issue 14, point 2).
//!
//! Every label of every role's `/metrics` comes from a bounded set: methods outside the
//! standard ones count as `OTHER`, paths no route knows as one route, statuses are numbers. So
//! once a warm-up has met each bounded value (every method class on every route of every
//! listener, bare and dressed, with and without a query), 1,000 more requests with random
//! extension methods, random paths, random headers and random ids and queries must leave the
//! number of series of every metric family exactly where it was.
//!
//! The random parts never change which bounded value a request lands on (an id is always a
//! well-formed id that exists nowhere, a query parameter is always one no route knows), so the
//! comparison is exact; the seed is printed, and `BARS_CARDINALITY_SEED` replays it.

use std::collections::BTreeMap;
use std::time::Duration;

use bars_http::client::HttpClient;
use http::Method;

use crate::kit::*;

/// The standard methods a client can send with a path (CONNECT takes an authority instead).
const STANDARD: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
];

/// How many requests with random parts follow the warm-up.
const RANDOM_REQUESTS: usize = 1_000;

/// Every path the receiver's listeners route (API and admin share a port each), with the
/// parts a client picks in braces.
const RECEIVER_PATHS: &[&str] = &[
    "/_ping",
    "/_status",
    "/openapi.json",
    "/metadata",
    "/Slot",
    "/Slots",
    "/Appointment",
    "/Appointment/",
    "/Appointment/{id}",
    "/Appointment/{id}/_history",
    "/Appointment/{id}/_history/{id}",
    "/$process-message",
    "/MessageDefinition",
    "/ServiceRequest",
    "/ServiceRequest/{id}/{id}",
    "/metrics",
    "/admin/services",
    "/admin/schedules",
    "/admin/slots",
    "/admin/slots/generate",
    "/admin/slots/{id}/withdraw",
    "/admin/audit",
    "/admin/outbox",
    "/admin/outbox/{id}/retry",
];

const REGISTRY_PATHS: &[&str] = &[
    "/_ping",
    "/_status",
    "/openapi.json",
    "/metadata",
    "/DocumentReference",
    "/DocumentReference/",
    "/DocumentReference/{id}",
    "/metrics",
];

const PROXY_PATHS: &[&str] = &[
    "/_ping",
    "/_status",
    "/openapi.json",
    "/oauth2/token",
    "/metadata",
    "/Slot",
    "/Slots",
    "/Appointment",
    "/Appointment/{id}",
    "/Appointment/{id}/_history",
    "/Appointment/{id}/_history/{id}",
    "/$process-message",
    "/MessageDefinition",
    "/ServiceRequest",
    "/ServiceRequest/{id}",
    "/DocumentReference",
    "/DocumentReference/{id}",
    "/HealthcareService",
    "/metrics",
    "/admin/endpoints",
    "/admin/endpoints/{id}",
    "/admin/applications",
    "/admin/applications/{id}",
];

/// One listener of the role under test and how to reach it.
struct Listener {
    base: String,
    client: HttpClient,
    /// The BaRS target identifier a dressed request names, where the listener routes by one.
    service: Option<String>,
}

/// What decides which bounded label values a request lands on; everything else is random.
#[derive(Clone, Copy, Debug)]
struct Class {
    listener: usize,
    /// An index into [`STANDARD`], or `None` for a random extension method.
    method: Option<usize>,
    /// An index into the role's paths, or `None` for a random path no route knows.
    path: Option<usize>,
    /// With the headers a BaRS sender sends (fresh ids, `Accept`, the target, a made-up token).
    dressed: bool,
    /// With a random query string of parameters no route knows.
    query: bool,
}

/// Metric family (the name of its `# TYPE` line) -> number of sample lines.
fn series_by_family(text: &str) -> BTreeMap<String, usize> {
    let mut families = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            current = rest.split(' ').next().unwrap_or_default().to_string();
            families.entry(current.clone()).or_insert(0);
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            *families.entry(current.clone()).or_insert(0) += 1;
        }
    }
    families
}

/// A token (RFC 9110 `tchar`s) that is no standard method, up to 100 characters long.
fn random_method(rng: &mut fastrand::Rng) -> String {
    const TCHAR: &[u8] =
        b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const WELL_KNOWN: &[&str] = &[
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
    ];
    loop {
        let len = match rng.u8(0..4) {
            0 => rng.usize(1..4),
            1 => rng.usize(4..12),
            2 => rng.usize(12..40),
            _ => rng.usize(40..=100),
        };
        let token: String = (0..len)
            .map(|_| char::from(TCHAR[rng.usize(..TCHAR.len())]))
            .collect();
        if !WELL_KNOWN.contains(&token.as_str()) {
            return token;
        }
    }
}

/// Letters and digits, as many as `len` picks.
fn alphanumeric(rng: &mut fastrand::Rng, len: std::ops::Range<usize>) -> String {
    let len = rng.usize(len);
    (0..len).map(|_| rng.alphanumeric()).collect()
}

/// A well-formed FHIR id that names nothing: a letter, then up to 63 more id characters.
fn random_id(rng: &mut fastrand::Rng) -> String {
    let len = rng.usize(0..64);
    let rest: String = (0..len)
        .map(|_| {
            if rng.u8(0..10) == 0 {
                '-'
            } else {
                rng.alphanumeric()
            }
        })
        .collect();
    format!("{}{rest}", rng.alphabetic())
}

/// A path no route knows: one to four segments of unreserved characters and percent-encoded
/// bytes, sometimes thousands of characters long (within the request-target limit).
fn random_path(rng: &mut fastrand::Rng) -> String {
    let mut path = String::new();
    for _ in 0..rng.usize(1..=4) {
        path.push('/');
        // A first segment of at least 8 characters cannot be any route's.
        let len = if rng.u8(0..8) == 0 {
            rng.usize(8..1_500)
        } else {
            rng.usize(8..40)
        };
        for _ in 0..len {
            match rng.u8(0..12) {
                0 => path.push_str(&format!("%{:02X}", rng.u8(..))),
                1 => path.push(['-', '.', '_', '~'][rng.usize(..4)]),
                _ => path.push(rng.alphanumeric()),
            }
        }
    }
    path
}

/// One to five parameters no route knows (`x...=...`), values percent-encoded random bytes.
fn random_query(rng: &mut fastrand::Rng) -> String {
    let params: Vec<String> = (0..rng.usize(1..=5))
        .map(|_| {
            let len = rng.usize(1..60);
            let value: String = (0..len)
                .map(|_| match rng.u8(0..4) {
                    0 => format!("%{:02X}", rng.u8(..)),
                    _ => rng.alphanumeric().to_string(),
                })
                .collect();
            format!("x{}={value}", alphanumeric(rng, 4..16))
        })
        .collect();
    format!("?{}", params.join("&"))
}

/// Zero to five headers with made-up names and printable values.
fn random_headers(rng: &mut fastrand::Rng) -> Vec<(String, String)> {
    (0..rng.usize(0..=5))
        .map(|_| {
            let name = format!("x-{}", alphanumeric(rng, 1..30).to_lowercase());
            let value: String = (0..rng.usize(0..200))
                .map(|_| char::from(rng.u8(0x21..0x7f)))
                .collect();
            (name, value)
        })
        .collect()
}

/// Sends one request of `class` with fresh random parts; returns the method it used.
async fn send(
    rng: &mut fastrand::Rng,
    listeners: &[Listener],
    paths: &[&str],
    class: Class,
) -> String {
    let listener = &listeners[class.listener];
    let method = match class.method {
        Some(i) => STANDARD[i].to_string(),
        None => random_method(rng),
    };
    let mut target = match class.path {
        Some(i) => {
            let mut path = paths[i].to_string();
            while path.contains("{id}") {
                path = path.replacen("{id}", &random_id(rng), 1);
            }
            path
        }
        None => random_path(rng),
    };
    if class.query {
        target.push_str(&random_query(rng));
    }
    let mut headers: Vec<(String, String)> = random_headers(rng);
    if class.dressed {
        headers.extend(
            bars_headers(None, listener.service.as_deref())
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        );
        headers.push((
            "authorization".into(),
            format!("Bearer {}", alphanumeric(rng, 1..300)),
        ));
    }
    let headers: Vec<(&str, String)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let url = format!("{}{target}", listener.base);
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    listener
        .client
        .call(m, &url, &headers, None)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    method
}

async fn scrape(admin_url: &str) -> (BTreeMap<String, usize>, String) {
    let plain = HttpClient::plain(Duration::from_secs(10));
    let r = plain
        .call(Method::GET, &format!("{admin_url}/metrics"), &[], None)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    (series_by_family(&text), text)
}

/// The warm-up, then [`RANDOM_REQUESTS`] random requests; the series of every family of the
/// role's `/metrics` must not have changed in between.
async fn series_stay_put(role: &str, listeners: Vec<Listener>, paths: &[&str], admin_url: &str) {
    let seed = std::env::var("BARS_CARDINALITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("{role}: BARS_CARDINALITY_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);

    let methods: Vec<Option<usize>> = (0..STANDARD.len()).map(Some).chain([None]).collect();
    let routes: Vec<Option<usize>> = (0..paths.len()).map(Some).chain([None]).collect();
    let mut classes = Vec::new();
    for listener in 0..listeners.len() {
        for &method in &methods {
            for &path in &routes {
                for dressed in [false, true] {
                    for query in [false, true] {
                        classes.push(Class {
                            listener,
                            method,
                            path,
                            dressed,
                            query,
                        });
                    }
                }
            }
        }
    }
    for &class in &classes {
        send(&mut rng, &listeners, paths, class).await;
    }
    let (before, before_text) = scrape(admin_url).await;

    let mut invented = std::collections::BTreeSet::new();
    for _ in 0..RANDOM_REQUESTS {
        // Mostly made-up methods on made-up paths: what an attacker would send.
        let class = Class {
            listener: rng.usize(..listeners.len()),
            method: if rng.u8(0..4) == 0 {
                Some(rng.usize(..STANDARD.len()))
            } else {
                None
            },
            path: if rng.bool() {
                Some(rng.usize(..paths.len()))
            } else {
                None
            },
            dressed: rng.bool(),
            query: rng.bool(),
        };
        let method = send(&mut rng, &listeners, paths, class).await;
        if class.method.is_none() {
            invented.insert(method);
        }
    }
    assert!(
        invented.len() > RANDOM_REQUESTS / 2,
        "only {} distinct made-up methods were sent",
        invented.len()
    );
    let (after, after_text) = scrape(admin_url).await;
    let grown: Vec<String> = after
        .iter()
        .filter(|(family, n)| before.get(*family) != Some(n))
        .map(|(family, n)| format!("{family}: {} -> {n}", before.get(family).unwrap_or(&0)))
        .collect();
    eprintln!(
        "{role}: {} warm-up requests, then {RANDOM_REQUESTS} random ones ({} made-up methods); \
         {} families, {} sample lines before and {} after",
        classes.len(),
        invented.len(),
        after.len(),
        before.values().sum::<usize>(),
        after.values().sum::<usize>(),
    );
    assert!(
        grown.is_empty(),
        "{role}: random requests grew /metrics (seed {seed}):\n{}\n--- before ---\n{before_text}\n--- after ---\n{after_text}",
        grown.join("\n")
    );
}

fn mtls_as_proxy(stack: &Stack) -> HttpClient {
    HttpClient::new(
        Some(
            bars_pki::tls::client_config(&stack.pki.ca_pem, Some(&stack.pki.proxy_client)).unwrap(),
        ),
        Duration::from_secs(10),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_requests_to_the_proxy_do_not_grow_its_metrics() {
    let stack = Stack::start(1).await;
    let service = stack.service(0, 0);
    let listeners = vec![
        // The public listener: no client certificate, no valid token.
        Listener {
            base: stack.proxy_url.clone(),
            client: stack.http.clone(),
            service: Some(service),
        },
        Listener {
            base: stack.proxy_admin_url.clone(),
            client: HttpClient::plain(Duration::from_secs(10)),
            service: None,
        },
    ];
    series_stay_put("proxy", listeners, PROXY_PATHS, &stack.proxy_admin_url).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_requests_to_a_receiver_do_not_grow_its_metrics() {
    let stack = Stack::start(1).await;
    let service = stack.service(0, 0);
    let rx = &stack.receivers[0];
    let listeners = vec![
        // The API answers only the proxy's certificate; the proxy passes on what senders send.
        Listener {
            base: rx.url.clone(),
            client: mtls_as_proxy(&stack),
            service: Some(service),
        },
        Listener {
            base: rx.admin_url.clone(),
            client: HttpClient::plain(Duration::from_secs(10)),
            service: None,
        },
    ];
    series_stay_put("receiver", listeners, RECEIVER_PATHS, &rx.admin_url).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_requests_to_the_registry_do_not_grow_its_metrics() {
    let stack = Stack::start(1).await;
    let listeners = vec![
        Listener {
            base: stack.registry_url.clone(),
            client: mtls_as_proxy(&stack),
            service: None,
        },
        Listener {
            base: stack.registry_admin_url.clone(),
            client: HttpClient::plain(Duration::from_secs(10)),
            service: None,
        },
    ];
    series_stay_put(
        "registry",
        listeners,
        REGISTRY_PATHS,
        &stack.registry_admin_url,
    )
    .await;
    stack.stop().await;
}
