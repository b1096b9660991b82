//! Which of a receiver's services a request may act on.
//!
//! One receiver can host several services, each reached by senders through its own
//! `NHSD-Target-Identifier` (or a message's destination). A request addressed to one service
//! must neither see nor change another's slots and appointments, and must not be able to tell
//! them from ones that do not exist. Every read and every decision asks [`Scope::admits`], so
//! the rule is stated once.

/// The part of a receiver a request is addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every hosted service: a caller that named no service. The BaRS proxy always names one,
    /// so only callers trusted directly by the receiver's listener arrive unaddressed.
    Receiver,
    /// One service, by its DoS service id. It need not be hosted here; an unhosted id simply
    /// owns nothing.
    Service(String),
}

impl Scope {
    /// True when a slot or appointment owned by `owner` is visible to this request. An
    /// appointment without an owner (a placeholder created unaddressed) is visible only to an
    /// unaddressed request.
    pub fn admits(&self, owner: Option<&str>) -> bool {
        match self {
            Scope::Receiver => true,
            Scope::Service(id) => owner == Some(id.as_str()),
        }
    }

    /// The service named, if any: the owner of a new appointment that holds no slot.
    pub fn service(&self) -> Option<&str> {
        match self {
            Scope::Receiver => None,
            Scope::Service(id) => Some(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_admits_only_what_it_owns() {
        let a = Scope::Service("A".into());
        assert!(a.admits(Some("A")));
        assert!(!a.admits(Some("B")));
        assert!(!a.admits(None));
        assert_eq!(a.service(), Some("A"));
    }

    #[test]
    fn an_unaddressed_request_admits_everything() {
        assert!(Scope::Receiver.admits(Some("A")));
        assert!(Scope::Receiver.admits(None));
        assert_eq!(Scope::Receiver.service(), None);
    }
}
