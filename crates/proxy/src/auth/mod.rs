//! Sender authentication; being written.
