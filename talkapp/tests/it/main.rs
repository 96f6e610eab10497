//! End-to-end tests of the TalkApp backend: the real gateway and services over HTTP and
//! gRPC, on SQLite (embedded) and PostgreSQL, in one process and split into processes.

mod auth;
mod errors;
mod external_tokens;
mod helpers;
mod observability;
mod split_mode;
