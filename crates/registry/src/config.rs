//! The Registry's configuration: a typed value built once at start-up and passed in.

/// NRL pages search results 20 at a time; the continuation token fetches the next 20.
pub const DEFAULT_PAGE_SIZE: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// The public base URL callers reach the Registry at (through the proxy); used in
    /// `Location`, `fullUrl` and search links.
    pub base_url: String,
    /// Pointers per search page.
    pub page_size: usize,
    /// Largest request body accepted; pointers are a few kilobytes.
    pub body_limit: usize,
}

impl RegistryConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        RegistryConfig {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            page_size: DEFAULT_PAGE_SIZE,
            body_limit: bars_http::fhir_json::DEFAULT_BODY_LIMIT,
        }
    }

    /// The absolute URL of a pointer.
    pub fn pointer_url(&self, id: &str) -> String {
        format!("{}/DocumentReference/{id}", self.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_urls() {
        let c = RegistryConfig::new("https://registry.example/FHIR/R4/");
        assert_eq!(c.page_size, 20);
        assert_eq!(
            c.pointer_url("RGT-1"),
            "https://registry.example/FHIR/R4/DocumentReference/RGT-1"
        );
    }
}
