//! Modules that share an item take it from a module below both, never from each other, so no
//! two modules import each other.

use std::path::Path;

/// (file under `crates/`, an import it must not have, why)
const ONE_WAY: &[(&str, &str, &str)] = &[
    (
        "http/src/error.rs",
        "crate::fhir_json",
        "the renderer takes the media type from `media`, below both",
    ),
    (
        "http/src/transport.rs",
        "crate::server",
        "the transport rules take the connection's details from `context`, below both",
    ),
    (
        "proxy/src/state.rs",
        "crate::health",
        "the state holds the probe cache itself; `health` reads the state",
    ),
    (
        "proxy/src/store/mod.rs",
        "crate::auth::Application",
        "the store reads applications from `auth::applications`; `auth` holds the store",
    ),
    (
        "proxy/src/store/sqlite.rs",
        "crate::auth::Application",
        "as store/mod.rs",
    ),
    (
        "proxy/src/store/postgres.rs",
        "crate::auth::Application",
        "as store/mod.rs",
    ),
];

#[test]
fn shared_items_sit_below_the_modules_that_share_them() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (file, import, why) in ONE_WAY {
        let path = crates.join(file);
        let source =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!source.contains(import), "{file} imports {import}: {why}");
    }
}
