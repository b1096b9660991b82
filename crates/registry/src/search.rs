//! `GET /DocumentReference` parameters, as NRL's consumer search defines them, and the links
//! that lead back to the same search.
//!
//! The NHS number may arrive raw (`https://fhir.nhs.uk/Id/nhs-number|9693893123`) or URL-encoded
//! once more than the query string needs (`https%3A%2F%2F...%7C9693893123`): the NRL schema
//! allows both, so both are read. Unknown parameters are ignored, as FHIR search does, and left
//! out of the self link so the caller can see what was applied.

use bars_fhir::headers::ODS_SYSTEM;
use bars_fhir::nhs_number::NHS_NUMBER_SYSTEM;
use bars_fhir::search::{Query, Token, encode_component};
use bars_fhir::{IssueType, NhsNumber};
use bars_http::ApiError;

use crate::errors::{SpineCode, spine};
use crate::rules::normalise_ods;
use crate::store::{Cursor, PointerQuery};

pub const SUBJECT: &str = "subject:identifier";
pub const CUSTODIAN: &str = "custodian:identifier";
pub const TYPE: &str = "type";
pub const CATEGORY: &str = "category";
pub const NEXT_PAGE_TOKEN: &str = "next-page-token";

/// A parsed search, before paging is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerSearch {
    pub subject: NhsNumber,
    pub type_token: Option<String>,
    /// Upper-case ODS code.
    pub custodian: Option<String>,
    pub category_token: Option<String>,
    pub after: Option<Cursor>,
}

fn invalid(parameter: &str, diagnostics: impl Into<String>) -> ApiError {
    spine(SpineCode::InvalidValue, IssueType::Value, diagnostics).at(parameter)
}

/// The single value of a parameter; a repeated parameter is ambiguous and refused.
fn single<'a>(query: &'a Query, name: &str) -> Result<Option<&'a str>, ApiError> {
    match query.all(&[name]).as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.trim())),
        _ => Err(invalid(name, format!("{name} may be given only once"))),
    }
}

/// Undoes the extra layer of encoding the NRL schema allows (`https%3A%2F%2F...%7C...`), with
/// the same decoder the query string went through. A value that decodes into several parameters
/// is junk either way and fails the token check that follows.
fn decode_again(value: &str) -> String {
    if value.contains('%')
        && !value.contains('|')
        && let Ok(decoded) = Query::parse(Some(&format!("v={value}")))
        && let Some(once_more) = decoded.first(&["v"])
    {
        return once_more.to_string();
    }
    value.to_string()
}

/// A `system|value` parameter whose system is fixed.
fn identifier_value(name: &str, raw: &str, system: &str) -> Result<String, ApiError> {
    let text = decode_again(raw);
    let token = Token::parse_qualified(&text)
        .ok_or_else(|| invalid(name, format!("{name} must be {system}|<value>")))?;
    if token.system.as_deref() != Some(system) {
        return Err(invalid(
            name,
            format!("{name} must use the system {system}"),
        ));
    }
    Ok(token.code)
}

/// A `system|code` token parameter.
fn coded(name: &str, raw: &str) -> Result<String, ApiError> {
    let text = decode_again(raw);
    let token = Token::parse_qualified(&text)
        .ok_or_else(|| invalid(name, format!("{name} must be system|code")))?;
    Ok(format!(
        "{}|{}",
        token.system.unwrap_or_default(),
        token.code
    ))
}

impl PointerSearch {
    pub fn parse(query: &Query) -> Result<PointerSearch, ApiError> {
        let raw_subject = single(query, SUBJECT)?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                spine(
                    SpineCode::InvalidValue,
                    IssueType::Required,
                    format!(
                        "the {SUBJECT} parameter is required ({NHS_NUMBER_SYSTEM}|<NHS number>)"
                    ),
                )
                .at(SUBJECT)
            })?;
        let nhs = identifier_value(SUBJECT, raw_subject, NHS_NUMBER_SYSTEM)?;
        let subject = NhsNumber::parse(&nhs)
            .map_err(|e| invalid(SUBJECT, format!("{SUBJECT} is not a valid NHS number: {e}")))?;

        let custodian = match single(query, CUSTODIAN)? {
            None => None,
            Some(raw) => {
                let code = identifier_value(CUSTODIAN, raw, ODS_SYSTEM)?;
                Some(normalise_ods(&code).ok_or_else(|| {
                    invalid(
                        CUSTODIAN,
                        format!("{CUSTODIAN} must name an ODS code (letters and digits only)"),
                    )
                })?)
            }
        };
        let type_token = single(query, TYPE)?
            .map(|raw| coded(TYPE, raw))
            .transpose()?
            .map(|token| match token.split_once('|') {
                Some((system, code)) => {
                    format!("{}|{code}", crate::rules::normalise_type_system(system))
                }
                None => token,
            });
        let category_token = single(query, CATEGORY)?
            .map(|raw| coded(CATEGORY, raw))
            .transpose()?;
        let after = match single(query, NEXT_PAGE_TOKEN)? {
            None => None,
            Some(token) => Some(Cursor::decode(token).ok_or_else(|| {
                invalid(
                    NEXT_PAGE_TOKEN,
                    format!("{NEXT_PAGE_TOKEN} is not a token this registry issued; start the search again"),
                )
            })?),
        };
        Ok(PointerSearch {
            subject,
            type_token,
            custodian,
            category_token,
            after,
        })
    }

    /// The store query for one page.
    pub fn page(&self, limit: usize) -> PointerQuery {
        PointerQuery {
            subject: self.subject.clone(),
            type_token: self.type_token.clone(),
            custodian: self.custodian.clone(),
            category_token: self.category_token.clone(),
            after: self.after,
            limit,
        }
    }

    /// The search URL with the parameters applied, resuming after `cursor` when given.
    pub fn link(&self, base_url: &str, cursor: Option<Cursor>) -> String {
        let mut url = format!(
            "{base_url}/DocumentReference?{SUBJECT}={}",
            encode_component(&format!("{NHS_NUMBER_SYSTEM}|{}", self.subject.as_str()))
        );
        let mut add = |name: &str, value: &str| {
            url.push('&');
            url.push_str(name);
            url.push('=');
            url.push_str(&encode_component(value));
        };
        if let Some(custodian) = &self.custodian {
            add(CUSTODIAN, &format!("{ODS_SYSTEM}|{custodian}"));
        }
        if let Some(type_token) = &self.type_token {
            add(TYPE, type_token);
        }
        if let Some(category) = &self.category_token {
            add(CATEGORY, category);
        }
        if let Some(cursor) = cursor {
            add(NEXT_PAGE_TOKEN, &cursor.encode());
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NHS: &str = "9693893123";

    fn parse(raw: &str) -> Result<PointerSearch, ApiError> {
        PointerSearch::parse(&Query::parse(Some(raw)).unwrap())
    }

    #[track_caller]
    fn refused(raw: &str, issue: IssueType, parameter: &str) {
        let e = parse(raw).expect_err(raw);
        assert_eq!(e.code(), "INVALID_VALUE", "{raw}");
        assert_eq!(e.issue, issue, "{raw}");
        assert_eq!(e.expression, [parameter], "{raw}");
        assert!(!e.diagnostics.contains(NHS), "{}", e.diagnostics);
        assert!(!e.diagnostics.contains("9693893124"), "{}", e.diagnostics);
    }

    #[test]
    fn subject_raw_encoded_and_double_encoded() {
        for raw in [
            format!("subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{NHS}"),
            format!("subject:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C{NHS}"),
            format!(
                "subject%3Aidentifier=https%253A%252F%252Ffhir.nhs.uk%252FId%252Fnhs-number%257C{NHS}"
            ),
        ] {
            let s = parse(&raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(s.subject.as_str(), NHS);
            assert_eq!(s.type_token, None);
            assert_eq!(s.custodian, None);
            assert_eq!(s.after, None);
        }
    }

    #[test]
    fn subject_is_required_and_must_be_a_valid_nhs_number() {
        refused("", IssueType::Required, SUBJECT);
        refused(
            "type=http://snomed.info/sct|749001000000101",
            IssueType::Required,
            SUBJECT,
        );
        refused("subject:identifier=", IssueType::Required, SUBJECT);
        refused(
            &format!("subject:identifier={NHS}"),
            IssueType::Value,
            SUBJECT,
        );
        refused(
            &format!("subject:identifier=https://example.org/mrn|{NHS}"),
            IssueType::Value,
            SUBJECT,
        );
        refused(
            "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9693893124",
            IssueType::Value,
            SUBJECT,
        );
        refused(
            &format!(
                "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{NHS}&subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919"
            ),
            IssueType::Value,
            SUBJECT,
        );
    }

    #[test]
    fn optional_filters() {
        let s = parse(&format!(
            "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{NHS}&type=http://snomed.info/sct|749001000000101&custodian:identifier=https://fhir.nhs.uk/Id/ods-organization-code|y05868&category=http%3A%2F%2Fsnomed.info%2Fsct%7C419891008&_format=json"
        ))
        .unwrap();
        assert_eq!(
            s.type_token.as_deref(),
            Some("http://snomed.info/sct|749001000000101")
        );
        assert_eq!(s.custodian.as_deref(), Some("Y05868"));
        assert_eq!(
            s.category_token.as_deref(),
            Some("http://snomed.info/sct|419891008")
        );

        let base = format!("subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{NHS}");
        refused(
            &format!("{base}&type=749001000000101"),
            IssueType::Value,
            TYPE,
        );
        refused(
            &format!("{base}&type=http://snomed.info/sct|"),
            IssueType::Value,
            TYPE,
        );
        refused(
            &format!("{base}&custodian:identifier=RGT"),
            IssueType::Value,
            CUSTODIAN,
        );
        refused(
            &format!("{base}&custodian:identifier=https://example.org|RGT"),
            IssueType::Value,
            CUSTODIAN,
        );
        refused(
            &format!(
                "{base}&custodian:identifier=https://fhir.nhs.uk/Id/ods-organization-code|R%20T"
            ),
            IssueType::Value,
            CUSTODIAN,
        );
    }

    #[test]
    fn continuation_tokens() {
        let base = format!("subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{NHS}");
        let token = Cursor { after: 20 }.encode();
        let s = parse(&format!("{base}&next-page-token={token}")).unwrap();
        assert_eq!(s.after, Some(Cursor { after: 20 }));
        refused(
            &format!("{base}&next-page-token=garbage"),
            IssueType::Value,
            NEXT_PAGE_TOKEN,
        );
    }

    #[test]
    fn links_reflect_what_was_applied() {
        let s = parse(&format!(
            "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{NHS}&type=http://snomed.info/sct|749001000000101&custodian:identifier=https://fhir.nhs.uk/Id/ods-organization-code|RGT&unknown=1"
        ))
        .unwrap();
        let link = s.link("https://registry.example", None);
        assert_eq!(
            link,
            format!(
                "https://registry.example/DocumentReference?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{NHS}&custodian:identifier=https://fhir.nhs.uk/Id/ods-organization-code|RGT&type=http://snomed.info/sct|749001000000101"
            )
        );
        let next = s.link("https://registry.example", Some(Cursor { after: 3 }));
        assert!(next.ends_with(&format!(
            "&next-page-token={}",
            Cursor { after: 3 }.encode()
        )));
        let page = s.page(20);
        assert_eq!(page.limit, 20);
        assert_eq!(page.custodian.as_deref(), Some("RGT"));
    }
}
