//! How a receiver tells the provider's own systems of appointment changes.

use std::time::Duration;

use bars_store::Subscriber;

use crate::pointers::worker::Backoff;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSettings {
    /// Subscribers from the configuration file, written to the store at start-up (replacing
    /// any of the same id); the admin API adds and removes others.
    pub subscribers: Vec<Subscriber>,
    /// The longest a subscriber may take to answer one delivery.
    pub timeout: Duration,
    pub backoff: Backoff,
    /// Attempts at one delivery before it is parked as failed, for an operator to retry. A
    /// parked delivery holds back the later events of its appointment for that subscriber,
    /// so that they are never received out of order.
    pub max_attempts: u32,
    /// How often the worker, and a waiting feed reader, look for events other instances wrote.
    pub poll: Duration,
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings {
            subscribers: Vec::new(),
            timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            max_attempts: 15,
            poll: Duration::from_millis(250),
        }
    }
}
