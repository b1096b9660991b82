//! The Registry role; being written.
