//! What a check is: a stable id, the requirement it tests and where that requirement comes from,
//! how strong it is, what the receiver must declare for it to apply, and the code that runs it.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::ctx::Ctx;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Area {
    Capabilities,
    Slots,
    Booking,
    View,
    Update,
    ReadBeforeWrite,
    Idempotency,
    Cancel,
    Rebook,
    Messaging,
    Registry,
    Transport,
    Errors,
    Hostile,
    Cleanup,
    // Sender mode.
    RequestIds,
    Headers,
    Retries,
    Authentication,
}

impl Area {
    pub fn name(self) -> &'static str {
        match self {
            Area::Capabilities => "capabilities",
            Area::Slots => "slot search",
            Area::Booking => "booking",
            Area::View => "view and search",
            Area::Update => "update",
            Area::ReadBeforeWrite => "read before write",
            Area::Idempotency => "idempotency",
            Area::Cancel => "cancel",
            Area::Rebook => "rebook",
            Area::Messaging => "$process-message",
            Area::Registry => "registry pointer",
            Area::Transport => "transport",
            Area::Errors => "error rows (4.4)",
            Area::Hostile => "hostile input",
            Area::Cleanup => "cleanup",
            Area::RequestIds => "request ids",
            Area::Headers => "headers",
            Area::Retries => "retries",
            Area::Authentication => "authentication",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Level {
    #[serde(rename = "SHALL")]
    Shall,
    #[serde(rename = "SHOULD")]
    Should,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Shall => "SHALL",
            Level::Should => "SHOULD",
        }
    }
}

/// What must hold for a check to apply; when it does not, the check is skipped saying why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The CapabilityStatement declares this interaction on this resource type.
    Interaction(&'static str, &'static str),
    /// It declares this system-level operation (`rest.operation.name`).
    Operation(&'static str),
    /// It declares `versioning: versioned-update` (If-Match is honoured).
    VersionedUpdate,
    /// Only when the kit talks to the receiver directly (through a proxy, the proxy answers first).
    Direct,
    /// Only through a proxy (the Registry is reached through it).
    Proxy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "reason", rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed(_) => "failed",
            Outcome::Skipped(_) => "skipped",
        }
    }
}

pub use crate::ctx::Problem;

pub type Verdict = Result<(), Problem>;
pub type Body = for<'a> fn(&'a Ctx) -> Pin<Box<dyn Future<Output = Verdict> + 'a>>;

pub struct CheckDef {
    pub id: &'static str,
    pub area: Area,
    pub title: &'static str,
    /// The section of the BaRS foundation digest.
    pub requirement: &'static str,
    /// The IG page or API operation the requirement comes from.
    pub source: &'static str,
    pub level: Level,
    pub needs: &'static [Need],
    pub body: Body,
}

impl CheckDef {
    /// The first need the receiver (or the route) does not meet, as the reason to skip.
    pub fn unmet_need(&self, ctx: &Ctx) -> Option<String> {
        self.needs.iter().find_map(|need| match *need {
            Need::Interaction(resource, code) if !ctx.declares(resource, code) => Some(format!(
                "the CapabilityStatement does not declare {resource} {code}"
            )),
            Need::Operation(name) if !ctx.declares_operation(name) => Some(format!(
                "the CapabilityStatement does not declare the operation {name}"
            )),
            Need::VersionedUpdate if !ctx.declares_versioned_update() => Some(
                "the CapabilityStatement does not declare versioning versioned-update for Appointment"
                    .into(),
            ),
            Need::Direct if !ctx.direct() => Some(
                "through a proxy the proxy answers this before the receiver sees it; run with --receiver-url"
                    .into(),
            ),
            Need::Proxy if ctx.direct() => Some(
                "the Registry is reached through the proxy; run through a proxy to check pointers"
                    .into(),
            ),
            _ => None,
        })
    }
}

/// Fails the check with a message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::check::Problem::Fail(format!($($msg)+)));
        }
    };
}

/// A check body from an `async fn(&Ctx) -> Verdict`.
#[macro_export]
macro_rules! body {
    ($f:path) => {{
        fn run(
            ctx: &$crate::ctx::Ctx,
        ) -> ::std::pin::Pin<Box<dyn ::std::future::Future<Output = $crate::check::Verdict> + '_>>
        {
            Box::pin($f(ctx))
        }
        run as $crate::check::Body
    }};
}
