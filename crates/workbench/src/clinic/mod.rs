//! The clinic's side (issue 19, point 4): where each receiver's admin API is ([`access`]) and
//! the calls the clinic pages make to it ([`admin`]), recorded like any exchange.

pub mod access;
pub mod admin;

/// What staff may record from the clinic page, as the admin API names them, with the words
/// the page's buttons use.
pub const STAFF_ACTIONS: [(&str, &str); 5] = [
    ("arrived", "Arrived"),
    ("fulfilled", "Seen (fulfilled)"),
    ("noshow", "Did not attend"),
    ("entered-in-error", "Entered in error"),
    ("cancel", "Cancel for the clinic"),
];

pub fn is_staff_action(action: &str) -> bool {
    STAFF_ACTIONS.iter().any(|(a, _)| *a == action)
}
