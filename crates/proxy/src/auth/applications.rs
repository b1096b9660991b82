//! The registry of sending applications: who may ask for tokens, which public keys verify their
//! client assertions, and which API products (hence scopes) their tokens carry.
//!
//! Registrations are checked when they are added, so a bad key in configuration fails at
//! start-up instead of as a confusing `invalid_client` for the sender later.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::jwk;

/// The API product an application must have to call BaRS (the Apigee product name).
pub const BARS_PRODUCT: &str = "booking-and-referral";

/// The scope the live proxy verifies on every BaRS call
/// (`OAuthV2.VerifyAccessToken.xml`); granted only to applications with [`BARS_PRODUCT`].
pub const BARS_SCOPE: &str = "urn:nhsd:apim:app:level3:booking-and-referral";

/// A sending application as onboarded (the NHS developer-portal "app").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// The client id (the NHS "API key"): `iss` and `sub` of its client assertions.
    pub client_id: String,
    /// A human-readable name, carried in access tokens for audit.
    pub name: String,
    /// The ODS code of the organisation that owns the application.
    pub ods_code: String,
    /// Public JWKs (RFC 7517) that verify the application's client assertions, selected by
    /// `kid`. Several allow key rotation without downtime.
    #[serde(default)]
    pub keys: Vec<Value>,
    /// API products enabled for the application; [`BARS_PRODUCT`] grants [`BARS_SCOPE`].
    #[serde(default)]
    pub products: Vec<String>,
    /// Requests per minute allowed to this application, if limited (enforced elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_minute: Option<u32>,
}

impl Application {
    pub fn has_product(&self, product: &str) -> bool {
        self.products.iter().any(|p| p == product)
    }

    /// The scopes its access tokens carry: the BaRS scope only when BaRS is enabled for it.
    pub fn scopes(&self) -> Vec<String> {
        if self.has_product(BARS_PRODUCT) {
            vec![BARS_SCOPE.to_string()]
        } else {
            Vec::new()
        }
    }

    /// The registered JWKs with this `kid` (normally one).
    pub fn keys_with_kid<'a>(&'a self, kid: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.keys
            .iter()
            .filter(move |k| jwk::kid(k).is_some_and(|id| id == kid))
    }

    /// Checks the registration: identifiers present and every key usable for RS512 or ES256.
    pub fn validate(&self) -> Result<(), ApplicationError> {
        if self.client_id.trim().is_empty() {
            return Err(ApplicationError::MissingField("client_id"));
        }
        if self.client_id.len() > 256 || self.client_id.chars().any(char::is_control) {
            return Err(ApplicationError::BadClientId);
        }
        if self.name.trim().is_empty() {
            return Err(ApplicationError::MissingField("name"));
        }
        if self.ods_code.trim().is_empty() {
            return Err(ApplicationError::MissingField("ods_code"));
        }
        for (index, key) in self.keys.iter().enumerate() {
            jwk::check_registrable(key).map_err(|e| ApplicationError::BadKey {
                client_id: self.client_id.clone(),
                index,
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplicationError {
    #[error("the application has no {0}")]
    MissingField(&'static str),
    #[error("the client_id must be at most 256 characters without control characters")]
    BadClientId,
    #[error("key {index} of application {client_id} is unusable: {reason}")]
    BadKey {
        client_id: String,
        index: usize,
        reason: String,
    },
}

/// The registry. Clones share one table; reads (every token request and routed call) take a
/// read lock only, and each entry is an `Arc` so a reader never holds the lock while it works.
#[derive(Debug, Clone, Default)]
pub struct Applications {
    inner: Arc<RwLock<HashMap<String, Arc<Application>>>>,
}

impl Applications {
    pub fn new() -> Applications {
        Applications::default()
    }

    /// A registry holding `apps`, refusing the whole list if one of them is invalid.
    pub fn from_list(
        apps: impl IntoIterator<Item = Application>,
    ) -> Result<Applications, ApplicationError> {
        let registry = Applications::new();
        for app in apps {
            registry.add(app)?;
        }
        Ok(registry)
    }

    /// Adds the application, or replaces the one with the same client id (returned). An
    /// invalid registration is refused and leaves the registry unchanged.
    pub fn add(&self, app: Application) -> Result<Option<Arc<Application>>, ApplicationError> {
        app.validate()?;
        let mut table = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        Ok(table.insert(app.client_id.clone(), Arc::new(app)))
    }

    /// Replaces the whole table at once with `apps` (what the proxy's database holds), each
    /// checked as [`Applications::add`] checks it. One that no longer passes (a key this build
    /// cannot use) is left out and logged, rather than keeping every other application from
    /// loading. Readers see the old table or the new one, never a mixture.
    pub fn replace_all(&self, apps: Vec<Application>) {
        let mut table = HashMap::with_capacity(apps.len());
        for app in apps {
            match app.validate() {
                Ok(()) => {
                    table.insert(app.client_id.clone(), Arc::new(app));
                }
                Err(e) => {
                    tracing::error!(client_id = %app.client_id, error = %e, "stored application left out");
                }
            }
        }
        *self.inner.write().unwrap_or_else(PoisonError::into_inner) = table;
    }

    /// Removes the application; true if it was registered. Its tokens stop working at once
    /// (the bearer check consults the registry).
    pub fn remove(&self, client_id: &str) -> bool {
        let mut table = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        table.remove(client_id).is_some()
    }

    pub fn get(&self, client_id: &str) -> Option<Arc<Application>> {
        let table = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        table.get(client_id).cloned()
    }

    /// A snapshot of every application, ordered by client id (owned, so it can be serialised).
    pub fn list(&self) -> Vec<Application> {
        let table = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let mut apps: Vec<Application> = table.values().map(|a| Application::clone(a)).collect();
        apps.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        apps
    }

    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testkit;
    use serde_json::json;

    #[test]
    fn add_replace_get_list_remove() {
        let apps = Applications::new();
        assert!(apps.is_empty());
        let first = testkit::application("b-app", &[testkit::ec_key()], true);
        assert_eq!(apps.add(first.clone()), Ok(None));
        apps.add(testkit::application("a-app", &[testkit::rsa_key()], false))
            .expect("valid");
        assert_eq!(apps.len(), 2);

        let mut renamed = first.clone();
        renamed.name = "Renamed".into();
        let previous = apps.add(renamed).expect("valid");
        assert_eq!(previous.as_deref(), Some(&first));
        assert_eq!(
            apps.get("b-app").map(|a| a.name.clone()),
            Some("Renamed".into())
        );

        let ids: Vec<_> = apps.list().iter().map(|a| a.client_id.clone()).collect();
        assert_eq!(ids, ["a-app", "b-app"]);

        assert!(apps.remove("a-app"));
        assert!(!apps.remove("a-app"));
        assert!(apps.get("a-app").is_none());
        assert_eq!(apps.len(), 1);
    }

    #[test]
    fn clones_share_the_table() {
        let apps = Applications::new();
        let other = apps.clone();
        apps.add(testkit::application("x", &[testkit::ec_key()], true))
            .expect("valid");
        assert!(other.get("x").is_some());
    }

    #[test]
    fn invalid_registrations_are_refused() {
        let apps = Applications::new();
        let mut app = testkit::application("x", &[testkit::ec_key()], true);
        app.keys.push(json!({"kty": "EC", "crv": "P-256"}));
        assert!(matches!(
            apps.add(app),
            Err(ApplicationError::BadKey { index: 1, .. })
        ));
        let mut app = testkit::application(" ", &[], true);
        assert_eq!(
            apps.add(app.clone()),
            Err(ApplicationError::MissingField("client_id"))
        );
        app.client_id = "ok".into();
        app.ods_code = String::new();
        assert_eq!(
            apps.add(app),
            Err(ApplicationError::MissingField("ods_code"))
        );
        assert!(apps.is_empty());
    }

    #[test]
    fn scopes_follow_the_bars_product() {
        let with = testkit::application("a", &[], true);
        let without = testkit::application("b", &[], false);
        assert_eq!(with.scopes(), [BARS_SCOPE]);
        assert!(without.scopes().is_empty());
    }

    #[test]
    fn loads_from_json_config_including_numbers() {
        // Text, the way a config file arrives, under the workspace's arbitrary_precision.
        let text = format!(
            r#"{{"client_id": "c1", "name": "Sender One", "ods_code": "A1001",
                "keys": [{}], "products": ["booking-and-referral"],
                "rate_limit_per_minute": 600}}"#,
            testkit::ec_key().public_jwk
        );
        let app: Application = serde_json::from_str(&text).expect("parses");
        assert_eq!(app.rate_limit_per_minute, Some(600));
        assert!(app.has_product(BARS_PRODUCT));
        app.validate().expect("valid");

        // And from an already-parsed Value (numbers held as text by the feature).
        let value: Value = serde_json::from_str(&text).expect("json");
        let again: Application = serde_json::from_value(value).expect("from value");
        assert_eq!(again, app);

        // Round trip through serialisation.
        let back: Application =
            serde_json::from_str(&serde_json::to_string(&app).expect("ser")).expect("de");
        assert_eq!(back, app);

        // Optional fields default.
        let minimal: Application =
            serde_json::from_str(r#"{"client_id":"c","name":"n","ods_code":"o"}"#).expect("de");
        assert!(minimal.keys.is_empty() && minimal.products.is_empty());
        assert_eq!(minimal.rate_limit_per_minute, None);
        assert!(
            serde_json::from_str::<Application>(
                r#"{"client_id":"c","name":"n","ods_code":"o","rate_limit_per_minute":-1}"#
            )
            .is_err()
        );
    }

    #[test]
    fn keys_are_found_by_kid() {
        let app = testkit::application("a", &[testkit::ec_key(), testkit::rsa_key()], true);
        assert_eq!(app.keys_with_kid(testkit::RSA_KID).count(), 1);
        assert_eq!(app.keys_with_kid("nope").count(), 0);
    }

    #[test]
    fn a_poisoned_lock_does_not_take_the_registry_down() {
        let apps = Applications::new();
        apps.add(testkit::application("a", &[], true))
            .expect("valid");
        let inner = apps.inner.clone();
        let _ = std::thread::spawn(move || {
            let _guard = inner.write().unwrap_or_else(PoisonError::into_inner);
            panic!("poison the lock");
        })
        .join();
        assert!(apps.get("a").is_some());
    }
}
