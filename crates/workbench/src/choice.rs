//! A slot chosen on the week view, and what choosing it is for.

use bars_client::Slot;
use serde::Deserialize;
use serde_json::Value;

/// What choosing a slot on the week view does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choosing {
    Book,
    Reschedule(String),
    Rebook(String),
}

/// A slot as the week view hands it on: its id and times (the receiver checks they agree).
#[derive(Debug, Deserialize, Default, Clone)]
pub struct ChosenSlot {
    #[serde(default)]
    pub slot: String,
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub end: String,
    pub name: Option<String>,
}

impl ChosenSlot {
    pub fn slot(&self) -> Slot {
        Slot {
            id: self.slot.clone(),
            start: self.start.clone(),
            end: self.end.clone(),
            status: "free".into(),
            resource: Value::Null,
        }
    }
}
