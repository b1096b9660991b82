//! The vocabulary of element tables: what a resource or datatype may contain.
//!
//! Each resource, backbone element and complex datatype is one static [`Table`] listing its
//! elements with their type(s) and cardinality, exactly as the FHIR R4 specification tabulates
//! them. The generic walker reads these tables; nothing else knows the shape of a resource.

/// The FHIR primitive types. Each one fixes the JSON kind it is written as and a lexical rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primitive {
    String,
    Code,
    Id,
    Uri,
    Url,
    Canonical,
    Oid,
    Uuid,
    Boolean,
    Integer,
    PositiveInt,
    UnsignedInt,
    Decimal,
    Instant,
    DateTime,
    Date,
    Time,
    Markdown,
    Base64Binary,
    Xhtml,
}

/// The JSON kinds FHIR primitives are written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    String,
    Number,
    Boolean,
}

impl Primitive {
    /// The FHIR type name, as it appears after `value` in a choice element (`valueDateTime`).
    pub fn name(self) -> &'static str {
        match self {
            Primitive::String => "string",
            Primitive::Code => "code",
            Primitive::Id => "id",
            Primitive::Uri => "uri",
            Primitive::Url => "url",
            Primitive::Canonical => "canonical",
            Primitive::Oid => "oid",
            Primitive::Uuid => "uuid",
            Primitive::Boolean => "boolean",
            Primitive::Integer => "integer",
            Primitive::PositiveInt => "positiveInt",
            Primitive::UnsignedInt => "unsignedInt",
            Primitive::Decimal => "decimal",
            Primitive::Instant => "instant",
            Primitive::DateTime => "dateTime",
            Primitive::Date => "date",
            Primitive::Time => "time",
            Primitive::Markdown => "markdown",
            Primitive::Base64Binary => "base64Binary",
            Primitive::Xhtml => "xhtml",
        }
    }

    /// FHIR JSON writes booleans as JSON booleans, the four numeric types as JSON numbers and
    /// everything else as JSON strings.
    pub fn json_kind(self) -> JsonKind {
        match self {
            Primitive::Boolean => JsonKind::Boolean,
            Primitive::Integer
            | Primitive::PositiveInt
            | Primitive::UnsignedInt
            | Primitive::Decimal => JsonKind::Number,
            _ => JsonKind::String,
        }
    }
}

/// The type of an element.
#[derive(Clone, Copy)]
pub enum Type {
    Primitive(Primitive),
    /// A complex datatype or backbone element described by its own table.
    Complex(&'static Table),
    /// A whole resource (`contained`), validated by its own table when we have one.
    Resource,
    /// A FHIR datatype this validator does not describe (e.g. `Address` inside an extension's
    /// `value[x]`): only its JSON shape and the no-empty-content rule are checked.
    Opaque(&'static str),
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::Primitive(p) => p.name(),
            Type::Complex(table) => table.name,
            Type::Resource => "Resource",
            Type::Opaque(name) => name,
        }
    }
}

/// One row of a table: an element, its type(s), its cardinality and, for codes with a required
/// binding, the complete list of allowed codes.
#[derive(Clone, Copy)]
pub struct Element {
    /// The JSON name; a choice element ends in `[x]` and is written `name` + TypeName.
    pub name: &'static str,
    pub types: &'static [Type],
    pub min: u32,
    pub many: bool,
    /// Empty when the element has no required binding (or is not a code).
    pub codes: &'static [&'static str],
}

impl Element {
    /// Restricts a code element to a required value set.
    pub const fn codes(self, codes: &'static [&'static str]) -> Element {
        Element { codes, ..self }
    }

    /// The JSON-name prefix of a choice element (`value` for `value[x]`).
    pub fn choice_prefix(&self) -> Option<&'static str> {
        self.name.strip_suffix("[x]")
    }
}

/// Cardinality 0..1.
pub const fn zero_one(name: &'static str, types: &'static [Type]) -> Element {
    Element {
        name,
        types,
        min: 0,
        many: false,
        codes: &[],
    }
}

/// Cardinality 1..1.
pub const fn one_one(name: &'static str, types: &'static [Type]) -> Element {
    Element {
        name,
        types,
        min: 1,
        many: false,
        codes: &[],
    }
}

/// Cardinality 0..*.
pub const fn zero_many(name: &'static str, types: &'static [Type]) -> Element {
    Element {
        name,
        types,
        min: 0,
        many: true,
        codes: &[],
    }
}

/// Cardinality 1..*.
pub const fn one_many(name: &'static str, types: &'static [Type]) -> Element {
    Element {
        name,
        types,
        min: 1,
        many: true,
        codes: &[],
    }
}

/// What a table inherits: every FHIR element has `id` and `extension`, backbone elements add
/// `modifierExtension`, and resources have the DomainResource elements instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Element,
    BackboneElement,
    DomainResource,
}

/// Extra checks a datatype carries with it (ext-1, per-1, att-1): run after the walker has
/// checked the object's elements, with the object and its path.
pub type Invariant =
    fn(&serde_json::Map<String, serde_json::Value>, &str, &mut Vec<crate::issue::Issue>);

/// A resource, backbone element or complex datatype.
pub struct Table {
    pub name: &'static str,
    pub base: Base,
    pub elements: &'static [Element],
    pub invariant: Option<Invariant>,
}

impl Table {
    pub const fn datatype(name: &'static str, elements: &'static [Element]) -> Table {
        Table {
            name,
            base: Base::Element,
            elements,
            invariant: None,
        }
    }

    pub const fn backbone(name: &'static str, elements: &'static [Element]) -> Table {
        Table {
            name,
            base: Base::BackboneElement,
            elements,
            invariant: None,
        }
    }

    pub const fn resource(name: &'static str, elements: &'static [Element]) -> Table {
        Table {
            name,
            base: Base::DomainResource,
            elements,
            invariant: None,
        }
    }

    pub const fn with_invariant(self, invariant: Invariant) -> Table {
        Table {
            invariant: Some(invariant),
            ..self
        }
    }
}

// Type lists for the primitives, so table rows read like the specification's.
pub const STRING: &[Type] = &[Type::Primitive(Primitive::String)];
pub const CODE: &[Type] = &[Type::Primitive(Primitive::Code)];
pub const ID: &[Type] = &[Type::Primitive(Primitive::Id)];
pub const URI: &[Type] = &[Type::Primitive(Primitive::Uri)];
pub const URL: &[Type] = &[Type::Primitive(Primitive::Url)];
pub const CANONICAL: &[Type] = &[Type::Primitive(Primitive::Canonical)];
pub const BOOLEAN: &[Type] = &[Type::Primitive(Primitive::Boolean)];
pub const POSITIVE_INT: &[Type] = &[Type::Primitive(Primitive::PositiveInt)];
pub const UNSIGNED_INT: &[Type] = &[Type::Primitive(Primitive::UnsignedInt)];
pub const DECIMAL: &[Type] = &[Type::Primitive(Primitive::Decimal)];
pub const INSTANT: &[Type] = &[Type::Primitive(Primitive::Instant)];
pub const DATE_TIME: &[Type] = &[Type::Primitive(Primitive::DateTime)];
pub const BASE64_BINARY: &[Type] = &[Type::Primitive(Primitive::Base64Binary)];
pub const XHTML: &[Type] = &[Type::Primitive(Primitive::Xhtml)];
pub const RESOURCE: &[Type] = &[Type::Resource];
