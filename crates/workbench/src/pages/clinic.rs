//! The clinic's side of an appointment (issue 19, point 4): the service's day list and the
//! events its systems received, next to the sender's view, so one action shows both parties
//! reacting. It needs the receiver's provider features (day list, event feed), which are being
//! built separately; this page is where they will plug in, reached from the same navigation.

use maud::{Markup, html};

pub fn render() -> Markup {
    html! {
        p class="lead" {
            "This part of the workbench will show the service's side of each booking: its day list, and the "
            "events the service's own systems received when a sender booked, changed or cancelled."
        }
        p {
            "It arrives with the receiver's provider features. Until then, the sender's side is complete: "
            a href="/" { "choose a service" } ", book, and open the "
            a href="/inspector" { "inspector" } " to see every exchange."
        }
    }
}
