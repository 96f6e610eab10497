//! The gateway against a real Redis: the rate limiter (one conformance suite for the
//! in-memory and Redis stores) and revocations told across gateways; and its service
//! figures against a PostgreSQL that goes away.

mod activity;
mod rate_limit;
mod revocations;
mod stats;
