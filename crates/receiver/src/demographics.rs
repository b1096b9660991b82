//! Finding a patient's appointments by demographics (Core 1.5.0, delta section 2.3): the
//! search parameters as senders write them, and whether an appointment's patient matches.
//!
//! The demographics a receiver holds are those its appointments carry: the contained Patient
//! the patient participant refers to (`actor.reference = "#id"`), else any contained Patient.
//! Matching follows decision D1: every value is trimmed (the specification's examples end in
//! `%0A`); each word of the name is a case-insensitive prefix of some part of a held name;
//! the birth date is `YYYY-MM-DD` or `DD/MM/YYYY`, optionally prefixed `eq`; the postcode is
//! compared without spaces or case against the home address (any address when none is
//! marked home).

use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_fhir::search::Query;
use bars_http::ApiError;
use serde_json::Value;

use crate::config::DemographicsMinimum;

pub const NAME: &str = "patient:name";
pub const BIRTH_DATE: &str = "patient:birthdate";
pub const POSTCODE: &str = "patient:address-postalcode";

/// The demographics a search names, normalised for matching.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Demographics {
    /// Lower-case words of the name.
    pub name: Vec<String>,
    /// `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// Upper case, no spaces.
    pub postcode: Option<String>,
}

impl Demographics {
    /// Reads the demographic parameters; `None` when the search names none of them.
    pub fn from_query(query: &Query) -> Result<Option<Demographics>, ApiError> {
        let text = |name: &str| {
            query
                .first(&[name])
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let (name, birth_date, postcode) = (text(NAME), text(BIRTH_DATE), text(POSTCODE));
        if name.is_none() && birth_date.is_none() && postcode.is_none() {
            return Ok(None);
        }
        Ok(Some(Demographics {
            name: name
                .map(|n| n.split_whitespace().map(str::to_lowercase).collect())
                .unwrap_or_default(),
            birth_date: birth_date.map(|d| parse_birth_date(&d)).transpose()?,
            postcode: postcode.map(|p| normalise_postcode(&p)),
        }))
    }

    /// Whether these demographics are enough to search without an NHS number (decision D1):
    /// 400 `required` naming what is missing otherwise.
    pub fn check_complete(&self, minimum: DemographicsMinimum) -> Result<(), ApiError> {
        let mut missing = Vec::new();
        if self.name.is_empty() {
            missing.push(NAME);
        }
        if self.birth_date.is_none() {
            missing.push(BIRTH_DATE);
        }
        if minimum == DemographicsMinimum::NameBirthDatePostcode && self.postcode.is_none() {
            missing.push(POSTCODE);
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Required,
            format!(
                "a search without patient:identifier needs the patient's demographics; missing: {}",
                missing.join(", ")
            ),
        )
        .at(missing[0]))
    }

    /// The text every stored appointment of a patient born on that date contains, for the
    /// store to pass over the others (bodies are stored as compact JSON).
    pub fn stored_text(&self) -> Option<String> {
        self.birth_date
            .as_ref()
            .map(|d| format!("\"birthDate\":\"{d}\""))
    }

    /// Whether the patient of `appointment` (its stored body) has these demographics.
    pub fn matches(&self, appointment: &Value) -> bool {
        let Some(patient) = held_patient(appointment) else {
            return false;
        };
        if let Some(date) = &self.birth_date
            && patient.get("birthDate").and_then(Value::as_str) != Some(date.as_str())
        {
            return false;
        }
        if let Some(code) = &self.postcode
            && !home_postcodes(patient).any(|held| held == *code)
        {
            return false;
        }
        let parts = name_parts(patient);
        self.name
            .iter()
            .all(|word| parts.iter().any(|part| part.starts_with(word.as_str())))
    }
}

fn bad_date() -> ApiError {
    ApiError::bars(
        BarsCode::RecBadRequest,
        IssueType::Value,
        "patient:birthdate must be a date as YYYY-MM-DD or DD/MM/YYYY, optionally prefixed eq",
    )
    .at(BIRTH_DATE)
}

/// `YYYY-MM-DD` or `DD/MM/YYYY`, optionally after `eq`, as `YYYY-MM-DD`.
fn parse_birth_date(text: &str) -> Result<String, ApiError> {
    let text = text.strip_prefix("eq").unwrap_or(text);
    let iso = match text.split('/').collect::<Vec<_>>().as_slice() {
        [d, m, y] if d.len() == 2 && m.len() == 2 && y.len() == 4 => format!("{y}-{m}-{d}"),
        [_] => text.to_string(),
        _ => return Err(bad_date()),
    };
    bars_fhir::instant::check_date(&iso).map_err(|_| bad_date())?;
    if iso.len() != 10 {
        return Err(bad_date());
    }
    Ok(iso)
}

fn normalise_postcode(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// The contained Patient the patient participant refers to, else the first contained Patient.
fn held_patient(appointment: &Value) -> Option<&Value> {
    let contained = appointment.get("contained")?.as_array()?;
    let patients = || {
        contained
            .iter()
            .filter(|c| c.get("resourceType").and_then(Value::as_str) == Some("Patient"))
    };
    let referenced = appointment
        .get("participant")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.pointer("/actor/reference").and_then(Value::as_str))
        .filter_map(|r| r.strip_prefix('#'))
        .find_map(|local| patients().find(|p| p.get("id").and_then(Value::as_str) == Some(local)));
    referenced.or_else(|| patients().next())
}

/// Every lower-case part of every name the patient has.
fn name_parts(patient: &Value) -> Vec<String> {
    let mut parts = Vec::new();
    for name in patient
        .get("name")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for key in ["family", "text"] {
            if let Some(v) = name.get(key).and_then(Value::as_str) {
                parts.extend(v.split_whitespace().map(str::to_lowercase));
            }
        }
        for key in ["given", "prefix", "suffix"] {
            for v in name
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                parts.extend(v.split_whitespace().map(str::to_lowercase));
            }
        }
    }
    parts
}

/// The postcodes of the patient's home addresses, or of every address when none is home.
fn home_postcodes(patient: &Value) -> impl Iterator<Item = String> + '_ {
    let addresses: Vec<&Value> = patient
        .get("address")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let home: Vec<&Value> = addresses
        .iter()
        .copied()
        .filter(|a| a.get("use").and_then(Value::as_str) == Some("home"))
        .collect();
    let chosen = if home.is_empty() { addresses } else { home };
    chosen.into_iter().filter_map(|a| {
        a.get("postalCode")
            .and_then(Value::as_str)
            .map(normalise_postcode)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(text: &str) -> Query {
        Query::parse(Some(text)).unwrap()
    }

    fn appointment() -> Value {
        json!({"resourceType": "Appointment",
            "contained": [{"resourceType": "Patient", "id": "p",
                "name": [{"family": "Dyball", "given": ["Adrian", "John"], "prefix": ["Mr"]}],
                "birthDate": "1932-10-29",
                "address": [{"use": "work", "postalCode": "LS1 4AP"}, {"use": "home", "postalCode": "DN17 4LR"}]}],
            "participant": [{"actor": {"reference": "#p"}}]})
    }

    #[test]
    fn the_specification_examples_parse() {
        let d = Demographics::from_query(&query(
            "patient:name=John%20Smith%0A&patient:birthdate=eq20%2F01%2F1995%0A&patient:address-postalcode=LS1%204AP%0A",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(d.name, ["john", "smith"]);
        assert_eq!(d.birth_date.as_deref(), Some("1995-01-20"));
        assert_eq!(d.postcode.as_deref(), Some("LS14AP"));
        assert!(
            Demographics::from_query(&query("_count=1"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn birth_dates_other_than_the_two_forms_are_refused() {
        for bad in ["gt1995-01-20", "20-01-1995", "1995-01", "1995-13-01", "x"] {
            let e =
                Demographics::from_query(&query(&format!("patient:birthdate={bad}"))).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.issue),
                (400, IssueType::Value),
                "{bad}"
            );
        }
    }

    #[test]
    fn matching_is_by_prefix_home_postcode_and_exact_date() {
        let a = appointment();
        let d = |q: &str| Demographics::from_query(&query(q)).unwrap().unwrap();
        assert!(d("patient:name=adr%20DYB&patient:birthdate=29/10/1932&patient:address-postalcode=dn174lr").matches(&a));
        // The work address is not the home address.
        assert!(!d("patient:name=adrian&patient:birthdate=1932-10-29&patient:address-postalcode=LS1%204AP").matches(&a));
        assert!(!d("patient:name=smith&patient:birthdate=1932-10-29").matches(&a));
        assert!(!d("patient:name=adrian&patient:birthdate=1932-10-30").matches(&a));
        assert!(!d("patient:name=adrian").matches(&json!({"resourceType": "Appointment"})));
    }

    #[test]
    fn partial_demographics_are_incomplete() {
        let d = Demographics::from_query(&query("patient:name=a&patient:birthdate=1932-10-29"))
            .unwrap()
            .unwrap();
        let e = d
            .check_complete(DemographicsMinimum::NameBirthDatePostcode)
            .unwrap_err();
        assert_eq!((e.status.as_u16(), e.issue), (400, IssueType::Required));
        assert!(d.check_complete(DemographicsMinimum::NameBirthDate).is_ok());
    }
}
