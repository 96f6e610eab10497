//! A local Telegram data center for tests, benchmarks and the embedded default.
//!
//! Not implemented yet: the crate is being built (issue 3).
