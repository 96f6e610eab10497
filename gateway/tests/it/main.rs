//! The gateway's rate limiter: one conformance suite for the in-memory and Redis stores.

mod rate_limit;
