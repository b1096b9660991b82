//! FHIR R4 complex datatypes and inherited elements, as element tables
//! (https://hl7.org/fhir/R4/datatypes.html, element.html, domainresource.html).

use serde_json::{Map, Value};

use super::table::{
    BASE64_BINARY, BOOLEAN, Base, CANONICAL, CODE, DATE_TIME, DECIMAL, Element, ID, INSTANT,
    Primitive, RESOURCE, STRING, Table, Type, UNSIGNED_INT, URI, URL, XHTML, one_one, zero_many,
    zero_one,
};
use crate::instant::Instant;
use crate::issue::{Issue, IssueType};

/// What every element inherits from `Element`.
static ELEMENT_BASE: [Element; 2] = [
    zero_one("id", STRING),
    zero_many("extension", &[Type::Complex(&EXTENSION)]),
];

/// What backbone elements inherit from `BackboneElement`.
static BACKBONE_BASE: [Element; 3] = [
    zero_one("id", STRING),
    zero_many("extension", &[Type::Complex(&EXTENSION)]),
    zero_many("modifierExtension", &[Type::Complex(&EXTENSION)]),
];

/// What every resource here inherits from `Resource` and `DomainResource`.
static DOMAIN_RESOURCE_BASE: [Element; 8] = [
    zero_one("id", ID),
    zero_one("meta", &[Type::Complex(&META)]),
    zero_one("implicitRules", URI),
    zero_one("language", CODE),
    zero_one("text", &[Type::Complex(&NARRATIVE)]),
    zero_many("contained", RESOURCE),
    zero_many("extension", &[Type::Complex(&EXTENSION)]),
    zero_many("modifierExtension", &[Type::Complex(&EXTENSION)]),
];

/// The elements a table inherits.
pub fn inherited(base: Base) -> &'static [Element] {
    match base {
        Base::Element => &ELEMENT_BASE,
        Base::BackboneElement => &BACKBONE_BASE,
        Base::DomainResource => &DOMAIN_RESOURCE_BASE,
    }
}

/// The object in `_name` that carries a primitive's `id` and extensions.
pub static PRIMITIVE_EXTENSION: Table = Table::datatype("Element", &[]);

pub static META: Table = Table::datatype(
    "Meta",
    &[
        zero_one("versionId", ID),
        zero_one("lastUpdated", INSTANT),
        zero_one("source", URI),
        zero_many("profile", CANONICAL),
        zero_many("security", &[Type::Complex(&CODING)]),
        zero_many("tag", &[Type::Complex(&CODING)]),
    ],
);

pub static NARRATIVE: Table = Table::datatype(
    "Narrative",
    &[
        one_one("status", CODE).codes(&["generated", "extensions", "additional", "empty"]),
        one_one("div", XHTML),
    ],
);

pub static EXTENSION: Table = Table::datatype(
    "Extension",
    &[
        one_one("url", URI),
        zero_one("value[x]", EXTENSION_VALUE_TYPES),
    ],
)
.with_invariant(ext_1);

/// The R4 "open" type list an extension's `value[x]` may take. Types without a table are only
/// checked for shape.
static EXTENSION_VALUE_TYPES: &[Type] = &[
    Type::Primitive(Primitive::Base64Binary),
    Type::Primitive(Primitive::Boolean),
    Type::Primitive(Primitive::Canonical),
    Type::Primitive(Primitive::Code),
    Type::Primitive(Primitive::Date),
    Type::Primitive(Primitive::DateTime),
    Type::Primitive(Primitive::Decimal),
    Type::Primitive(Primitive::Id),
    Type::Primitive(Primitive::Instant),
    Type::Primitive(Primitive::Integer),
    Type::Primitive(Primitive::Markdown),
    Type::Primitive(Primitive::Oid),
    Type::Primitive(Primitive::PositiveInt),
    Type::Primitive(Primitive::String),
    Type::Primitive(Primitive::Time),
    Type::Primitive(Primitive::UnsignedInt),
    Type::Primitive(Primitive::Uri),
    Type::Primitive(Primitive::Url),
    Type::Primitive(Primitive::Uuid),
    Type::Complex(&ATTACHMENT),
    Type::Complex(&CODEABLE_CONCEPT),
    Type::Complex(&CODING),
    Type::Complex(&HUMAN_NAME),
    Type::Complex(&IDENTIFIER),
    Type::Complex(&META),
    Type::Complex(&PERIOD),
    Type::Complex(&QUANTITY),
    Type::Complex(&REFERENCE),
    Type::Opaque("Address"),
    Type::Opaque("Age"),
    Type::Opaque("Annotation"),
    Type::Opaque("ContactPoint"),
    Type::Opaque("Count"),
    Type::Opaque("Distance"),
    Type::Opaque("Duration"),
    Type::Opaque("Money"),
    Type::Opaque("Range"),
    Type::Opaque("Ratio"),
    Type::Opaque("SampledData"),
    Type::Opaque("Signature"),
    Type::Opaque("Timing"),
    Type::Opaque("ContactDetail"),
    Type::Opaque("Contributor"),
    Type::Opaque("DataRequirement"),
    Type::Opaque("Expression"),
    Type::Opaque("ParameterDefinition"),
    Type::Opaque("RelatedArtifact"),
    Type::Opaque("TriggerDefinition"),
    Type::Opaque("UsageContext"),
    Type::Opaque("Dosage"),
];

pub static CODING: Table = Table::datatype(
    "Coding",
    &[
        zero_one("system", URI),
        zero_one("version", STRING),
        zero_one("code", CODE),
        zero_one("display", STRING),
        zero_one("userSelected", BOOLEAN),
    ],
);

pub static CODEABLE_CONCEPT: Table = Table::datatype(
    "CodeableConcept",
    &[
        zero_many("coding", &[Type::Complex(&CODING)]),
        zero_one("text", STRING),
    ],
);

pub static IDENTIFIER: Table = Table::datatype(
    "Identifier",
    &[
        zero_one("use", CODE).codes(&["usual", "official", "temp", "secondary", "old"]),
        zero_one("type", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_one("system", URI),
        zero_one("value", STRING),
        zero_one("period", &[Type::Complex(&PERIOD)]),
        zero_one("assigner", &[Type::Complex(&REFERENCE)]),
    ],
);

pub static REFERENCE: Table = Table::datatype(
    "Reference",
    &[
        zero_one("reference", STRING),
        zero_one("type", URI),
        zero_one("identifier", &[Type::Complex(&IDENTIFIER)]),
        zero_one("display", STRING),
    ],
);

pub static PERIOD: Table = Table::datatype(
    "Period",
    &[zero_one("start", DATE_TIME), zero_one("end", DATE_TIME)],
)
.with_invariant(per_1);

pub static HUMAN_NAME: Table = Table::datatype(
    "HumanName",
    &[
        zero_one("use", CODE).codes(&[
            "usual",
            "official",
            "temp",
            "nickname",
            "anonymous",
            "old",
            "maiden",
        ]),
        zero_one("text", STRING),
        zero_one("family", STRING),
        zero_many("given", STRING),
        zero_many("prefix", STRING),
        zero_many("suffix", STRING),
        zero_one("period", &[Type::Complex(&PERIOD)]),
    ],
);

pub static QUANTITY: Table = Table::datatype(
    "Quantity",
    &[
        zero_one("value", DECIMAL),
        zero_one("comparator", CODE).codes(&["<", "<=", ">=", ">"]),
        zero_one("unit", STRING),
        zero_one("system", URI),
        zero_one("code", CODE),
    ],
);

pub static ATTACHMENT: Table = Table::datatype(
    "Attachment",
    &[
        zero_one("contentType", CODE),
        zero_one("language", CODE),
        zero_one("data", BASE64_BINARY),
        zero_one("url", URL),
        zero_one("size", UNSIGNED_INT),
        zero_one("hash", BASE64_BINARY),
        zero_one("title", STRING),
        zero_one("creation", DATE_TIME),
    ],
)
.with_invariant(att_1);

/// ext-1: an extension carries either nested extensions or a value, never both and never
/// neither.
fn ext_1(object: &Map<String, Value>, path: &str, issues: &mut Vec<Issue>) {
    let has_value = object
        .keys()
        .any(|k| k.starts_with("value") || k.starts_with("_value"));
    let has_extensions = object.contains_key("extension");
    if has_value == has_extensions {
        issues.push(
            Issue::error(IssueType::Invariant, "ext-1: an extension must have either nested extensions or a value[x], exactly one of the two")
                .at(path),
        );
    }
}

/// per-1: a period may not end before it starts. Only comparable values are compared: two full
/// instants, or two partial dates of the same precision.
fn per_1(object: &Map<String, Value>, path: &str, issues: &mut Vec<Issue>) {
    let (Some(start), Some(end)) = (
        object.get("start").and_then(Value::as_str),
        object.get("end").and_then(Value::as_str),
    ) else {
        return;
    };
    let reversed = match (Instant::parse(start), Instant::parse(end)) {
        (Ok(s), Ok(e)) => s > e,
        _ => start.len() == end.len() && start.len() <= 10 && start > end,
    };
    if reversed {
        issues.push(
            Issue::error(
                IssueType::Invariant,
                "per-1: a period's start must not be after its end",
            )
            .at(path),
        );
    }
}

/// att-1: inline attachment data is only usable when its content type is known.
fn att_1(object: &Map<String, Value>, path: &str, issues: &mut Vec<Issue>) {
    if object.contains_key("data") && !object.contains_key("contentType") {
        issues.push(
            Issue::error(
                IssueType::Invariant,
                "att-1: an attachment with data must have a contentType",
            )
            .at(path),
        );
    }
}
