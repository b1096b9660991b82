//! Who is sending: the access-control headers every BaRS request carries (BaRS 3.1-3.2).

use bars_fhir::headers::{
    EndUserOrganisation, RequestingPractitioner, RequestingSoftware, encode_base64_json,
};
use serde_json::json;

/// The sending organisation, its software and (when known) the practitioner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderIdentity {
    pub ods_code: String,
    pub organisation_name: String,
    pub software_id: String,
    pub software_name: String,
    pub software_version: String,
    pub practitioner: Option<RequestingPractitioner>,
}

impl SenderIdentity {
    pub fn new(ods_code: &str, organisation_name: &str) -> Self {
        SenderIdentity {
            ods_code: ods_code.into(),
            organisation_name: organisation_name.into(),
            software_id: "bars-client".into(),
            software_name: "bars".into(),
            software_version: env!("CARGO_PKG_VERSION").into(),
            practitioner: None,
        }
    }

    /// The Base64 JSON header values, by header name.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let org = EndUserOrganisation {
            ods_code: Some(self.ods_code.clone()),
            name: Some(self.organisation_name.clone()),
        };
        let software = RequestingSoftware {
            id_system: Some("https://fhir.nhs.uk/Id/bars-software".into()),
            id: Some(self.software_id.clone()),
            name: Some(self.software_name.clone()),
            version: Some(self.software_version.clone()),
        };
        let mut headers = vec![
            (
                "nhsd-end-user-organisation",
                encode_base64_json(&org.to_json()),
            ),
            (
                "nhsd-requesting-software",
                encode_base64_json(&software.to_json()),
            ),
        ];
        if let Some(p) = &self.practitioner {
            let role = json!({
                "resourceType": "PractitionerRole",
                "identifier": [{ "system": "https://fhir.nhs.uk/Id/sds-role-profile-id", "value": p.role_profile_id }],
                "code": p.role_codes.iter().map(|c| json!({ "coding": [{ "system": "http://snomed.info/sct", "code": c }] })).collect::<Vec<_>>(),
            });
            headers.push(("nhsd-requesting-practitioner", encode_base64_json(&role)));
        }
        headers
    }
}
