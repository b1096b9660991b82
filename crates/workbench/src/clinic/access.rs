//! Where the clinic's side is read from: each receiver's admin listener (and its bearer token,
//! when it has one), from a stack manifest (`bars demo`'s `stack.json`) or from flags
//! (`--receiver-admin ODS=URL`, `--receiver-admin-token ODS=TOKEN`).

use serde_json::Value;

/// One receiver's admin API and the services it runs (when known).
#[derive(Clone)]
pub struct ReceiverAdmin {
    pub ods: String,
    pub name: Option<String>,
    pub url: String,
    pub token: Option<String>,
    /// DoS service ids with their names.
    pub services: Vec<(String, String)>,
}

/// Kept out of logs and debug output: the token is a secret.
impl std::fmt::Debug for ReceiverAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverAdmin")
            .field("ods", &self.ods)
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// Every receiver the clinic pages can reach; empty means the clinic's side is not configured.
#[derive(Debug, Clone, Default)]
pub struct ClinicAccess {
    receivers: Vec<ReceiverAdmin>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClinicFlagError {
    #[error("{0:?} is not ODS=VALUE (for example RXR01=http://127.0.0.1:8085)")]
    Shape(String),
    #[error("the admin URL {0:?} must start with http:// or https://")]
    Url(String),
    #[error("no admin URL is known for {0}: give --receiver-admin {0}=URL too")]
    TokenWithoutUrl(String),
}

fn pair(flag: &str) -> Result<(String, String), ClinicFlagError> {
    match flag.split_once('=') {
        Some((ods, value)) if !ods.trim().is_empty() && !value.trim().is_empty() => {
            Ok((ods.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(ClinicFlagError::Shape(flag.to_string())),
    }
}

impl ClinicAccess {
    /// The receivers of a stack manifest: `receivers[]` with `ods`, `adminUrl`, optional
    /// `adminToken`, `name` and `services[]` (`value`, `name`). Entries without an admin URL
    /// are left out.
    pub fn from_manifest(manifest: &Value) -> ClinicAccess {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let receivers = manifest
            .get("receivers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some(ReceiverAdmin {
                    ods: text(r, "ods")?,
                    name: text(r, "name"),
                    url: text(r, "adminUrl")?,
                    token: text(r, "adminToken"),
                    services: r
                        .get("services")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|s| {
                            Some((text(s, "value")?, text(s, "name").unwrap_or_default()))
                        })
                        .collect(),
                })
            })
            .collect();
        ClinicAccess { receivers }
    }

    /// `ODS=URL`: this receiver's admin API (replacing the manifest's URL for that ODS code).
    pub fn admin_url(&mut self, flag: &str) -> Result<(), ClinicFlagError> {
        let (ods, url) = pair(flag)?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ClinicFlagError::Url(url));
        }
        match self.receivers.iter_mut().find(|r| r.ods == ods) {
            Some(r) => r.url = url,
            None => self.receivers.push(ReceiverAdmin {
                ods,
                name: None,
                url,
                token: None,
                services: Vec::new(),
            }),
        }
        Ok(())
    }

    /// `ODS=TOKEN`: the bearer token of that receiver's admin API.
    pub fn admin_token(&mut self, flag: &str) -> Result<(), ClinicFlagError> {
        let (ods, token) = pair(flag)?;
        match self.receivers.iter_mut().find(|r| r.ods == ods) {
            Some(r) => {
                r.token = Some(token);
                Ok(())
            }
            None => Err(ClinicFlagError::TokenWithoutUrl(ods)),
        }
    }

    pub fn receivers(&self) -> &[ReceiverAdmin] {
        &self.receivers
    }

    pub fn is_empty(&self) -> bool {
        self.receivers.is_empty()
    }

    /// The receiver that runs `service`: the one listing it, else the one whose ODS code the
    /// directory gives for it, else the only receiver there is.
    pub fn for_service(&self, service: &str, ods: Option<&str>) -> Option<&ReceiverAdmin> {
        self.receivers
            .iter()
            .find(|r| r.services.iter().any(|(id, _)| id == service))
            .or_else(|| ods.and_then(|o| self.receivers.iter().find(|r| r.ods == o)))
            .or(match self.receivers.as_slice() {
                [only] => Some(only),
                _ => None,
            })
    }

    /// Whether the service can be placed without asking the directory.
    pub fn knows(&self, service: &str) -> bool {
        self.for_service(service, None).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest() -> Value {
        json!({ "receivers": [
            { "ods": "RXR01", "name": "Riverside", "adminUrl": "http://127.0.0.1:8085",
              "services": [{ "value": "2000011111", "name": "UTC" }] },
            { "ods": "RYY02", "adminUrl": "http://127.0.0.1:8087", "adminToken": "t0k3n-long-enough",
              "services": [{ "value": "2000022222" }] },
            { "ods": "NOADMIN" }
        ]})
    }

    #[test]
    fn the_manifest_gives_each_receivers_admin_api_and_services() {
        let a = ClinicAccess::from_manifest(&manifest());
        assert_eq!(
            a.receivers().len(),
            2,
            "an entry without adminUrl is left out"
        );
        assert_eq!(a.for_service("2000022222", None).unwrap().ods, "RYY02");
        assert_eq!(
            a.for_service("2000022222", None).unwrap().token.as_deref(),
            Some("t0k3n-long-enough")
        );
        assert!(
            a.for_service("2000099999", None).is_none(),
            "two receivers: no guess"
        );
        assert_eq!(
            a.for_service("2000099999", Some("RXR01")).unwrap().ods,
            "RXR01"
        );
        assert!(
            !format!("{a:?}").contains("t0k3n"),
            "the token is kept out of debug output"
        );
    }

    #[test]
    fn flags_add_or_replace_a_receiver() {
        let mut a = ClinicAccess::from_manifest(&manifest());
        a.admin_url("RXR01=http://10.0.0.1:9000").unwrap();
        assert_eq!(
            a.for_service("2000011111", None).unwrap().url,
            "http://10.0.0.1:9000"
        );
        let mut b = ClinicAccess::default();
        assert!(b.is_empty());
        assert_eq!(
            b.admin_token("RXR01=secret"),
            Err(ClinicFlagError::TokenWithoutUrl("RXR01".into()))
        );
        b.admin_url("RXR01=http://127.0.0.1:8085").unwrap();
        b.admin_token("RXR01=secret").unwrap();
        assert_eq!(
            b.for_service("anything", None).unwrap().token.as_deref(),
            Some("secret")
        );
        assert!(matches!(
            b.admin_url("RXR01"),
            Err(ClinicFlagError::Shape(_))
        ));
        assert!(matches!(
            b.admin_url("RXR01=ftp://x"),
            Err(ClinicFlagError::Url(_))
        ));
    }
}
