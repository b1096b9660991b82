//! The three PATCH forms; being written.
