//! Step 4 of section 6.3: the bundle against its MessageDefinition. BaRS makes this a business
//! check, not FHIR validation, and a non-conforming payload must be rejected: 400
//! `REC_BAD_REQUEST` with `required` for something missing and `invariant` for something
//! present but wrong (too many, not resolving, of the wrong type).
//!
//! Resource types a definition does not list are tolerated: the focus table says what a
//! message must and may carry for booking, and refusing, say, an Encounter a sender's system
//! adds would turn away bookings the receiver can process.

use bars_fhir::{Instant, IssueType};
use serde_json::Value;

use super::bundle::{Entry, Message, Object, bad, reference_of};
use super::definitions::Kind;
use bars_fhir::codes::BarsCode;
use bars_http::ApiError;

/// What the structural check established.
#[derive(Debug, Clone, Copy)]
pub struct Checked<'a> {
    /// The definition the bundle was held to: `MessageHeader.definition`, or inferred from the
    /// Appointment's status when the header names none.
    pub kind: Kind,
    /// Whether the header named its definition (step 6 holds it to the workflow).
    pub declared: bool,
    /// The focus Appointment entry.
    pub appointment: Entry<'a>,
}

/// Checks the envelope, the entries, the header's references and the focus cardinalities.
pub fn check<'a>(message: &Message<'a>, header: &'a Object) -> Result<Checked<'a>, ApiError> {
    envelope(message)?;
    entries(message)?;
    header_elements(message, header)?;
    let appointment = focus(message, header)?;
    let (kind, declared) = definition(header, appointment)?;
    cardinalities(message, kind)?;
    Ok(Checked {
        kind,
        declared,
        appointment,
    })
}

fn envelope(message: &Message<'_>) -> Result<(), ApiError> {
    if message.str_at("id").is_none_or(str::is_empty) {
        return Err(bad(
            IssueType::Required,
            "Bundle.id is required: the response refers to the request by it",
            "Bundle.id",
        ));
    }
    match message.str_at("type") {
        None => {
            return Err(bad(
                IssueType::Required,
                "Bundle.type is required",
                "Bundle.type",
            ));
        }
        Some("message") => {}
        Some(_) => {
            return Err(bad(
                IssueType::Invariant,
                "Bundle.type must be message for $process-message",
                "Bundle.type",
            ));
        }
    }
    match message.str_at("timestamp") {
        None => Err(bad(
            IssueType::Required,
            "Bundle.timestamp is required for a message (BARSBundleMessage)",
            "Bundle.timestamp",
        )),
        Some(t) => Instant::parse(t).map(|_| ()).map_err(|_| {
            bad(
                IssueType::Value,
                "Bundle.timestamp must be an instant with a time zone",
                "Bundle.timestamp",
            )
        }),
    }
}

fn entries(message: &Message<'_>) -> Result<(), ApiError> {
    for e in &message.entries {
        let at = format!("Bundle.entry[{}]", e.index);
        if e.resource.is_none() || e.resource_type().is_none() {
            return Err(bad(
                IssueType::Required,
                "every entry must carry a resource with a resourceType",
                format!("{at}.resource"),
            ));
        }
        if e.full_url.is_none() {
            return Err(bad(
                IssueType::Required,
                "every entry of a message must have a fullUrl",
                format!("{at}.fullUrl"),
            ));
        }
    }
    if message.duplicate_urls > 0 {
        return Err(bad(
            IssueType::Invariant,
            "bdl-7: fullUrl must be unique in a bundle",
            "Bundle.entry.fullUrl",
        ));
    }
    Ok(())
}

/// The header elements the booking-request profile makes mandatory, apart from the
/// destination (step 3) and the focus (below).
fn header_elements(message: &Message<'_>, header: &Object) -> Result<(), ApiError> {
    if !header.get("eventCoding").is_some_and(Value::is_object) {
        return Err(bad(
            IssueType::Required,
            "MessageHeader.eventCoding is required",
            "MessageHeader.eventCoding",
        ));
    }
    let has_reason = header
        .get("reason")
        .and_then(|r| r.get("coding"))
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    if !has_reason {
        return Err(bad(
            IssueType::Required,
            "MessageHeader.reason is required (https://fhir.nhs.uk/CodeSystem/message-reason-bars)",
            "MessageHeader.reason",
        ));
    }
    let endpoint = header
        .get("source")
        .and_then(|s| s.get("endpoint"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    if endpoint.is_none() {
        return Err(bad(
            IssueType::Required,
            "MessageHeader.source.endpoint is required: replies are addressed to it",
            "MessageHeader.source.endpoint",
        ));
    }
    let sender = header.get("sender");
    if reference_of(sender).is_none() {
        return Err(bad(
            IssueType::Required,
            "MessageHeader.sender.reference is required",
            "MessageHeader.sender",
        ));
    }
    if !message
        .resolve_at(sender)
        .is_some_and(|e| e.is("Organization"))
    {
        return Err(bad(
            IssueType::Invariant,
            "MessageHeader.sender must reference an Organization entry of the bundle",
            "MessageHeader.sender",
        ));
    }
    Ok(())
}

/// `MessageHeader.focus` must resolve, and one focus must be the Appointment.
fn focus<'a>(message: &Message<'a>, header: &'a Object) -> Result<Entry<'a>, ApiError> {
    let focus = header
        .get("focus")
        .and_then(Value::as_array)
        .filter(|f| !f.is_empty())
        .ok_or_else(|| {
            bad(
                IssueType::Required,
                "MessageHeader.focus is required: it references the Appointment",
                "MessageHeader.focus",
            )
        })?;
    let mut appointment = None;
    for (i, f) in focus.iter().enumerate() {
        let at = format!("MessageHeader.focus[{i}]");
        if reference_of(Some(f)).is_none() {
            return Err(bad(
                IssueType::Required,
                "a focus must have a reference",
                at,
            ));
        }
        let Some(entry) = message.resolve_at(Some(f)) else {
            return Err(bad(
                IssueType::Invariant,
                "the focus does not resolve to an entry of the bundle",
                at,
            ));
        };
        if entry.is("Appointment") {
            if appointment.is_some() {
                return Err(bad(
                    IssueType::Invariant,
                    "the message must focus on exactly one Appointment",
                    at,
                ));
            }
            appointment = Some(entry);
        }
    }
    appointment.ok_or_else(|| {
        bad(
            IssueType::Invariant,
            "the focus of a booking message must be the Appointment entry",
            "MessageHeader.focus",
        )
    })
}

fn definition(header: &Object, appointment: Entry<'_>) -> Result<(Kind, bool), ApiError> {
    match header.get("definition") {
        None | Some(Value::Null) => {
            let cancelling = appointment
                .resource
                .and_then(|a| a.get("status"))
                .and_then(Value::as_str)
                .is_some_and(|s| s == "cancelled" || s == "entered-in-error");
            Ok((
                if cancelling {
                    Kind::BookingRequestCancelled
                } else {
                    Kind::BookingRequest
                },
                false,
            ))
        }
        Some(v) => match v.as_str().and_then(Kind::from_url) {
            Some(kind) => Ok((kind, true)),
            None => Err(ApiError::bars(
                BarsCode::RecUnprocessableEntity,
                IssueType::NotSupported,
                "MessageHeader.definition names a message this receiver does not process; see GET /MessageDefinition",
            )
            .at("MessageHeader.definition")),
        },
    }
}

fn cardinalities(message: &Message<'_>, kind: Kind) -> Result<(), ApiError> {
    for f in kind.focus().iter().filter(|f| f.code != "Bundle") {
        let n = message.count(f.code);
        if n < f.min {
            return Err(bad(
                IssueType::Required,
                format!(
                    "{} requires at least {} {} entr{} ({n} found)",
                    kind.url(),
                    f.min,
                    f.code,
                    if f.min == 1 { "y" } else { "ies" }
                ),
                "Bundle.entry",
            ));
        }
        if let Some(max) = f.max
            && n > max
        {
            return Err(bad(
                IssueType::Invariant,
                format!(
                    "{} allows at most {max} {} entr{} ({n} found)",
                    kind.url(),
                    f.code,
                    if max == 1 { "y" } else { "ies" }
                ),
                "Bundle.entry",
            ));
        }
    }
    Ok(())
}
