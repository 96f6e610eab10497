//! The WebSocket: a linked account's events, live, with replay after a reconnect.
//!
//! `GET /ws/{user_id}/{session_index}` upgrades after the same checks as REST (a bearer
//! token, or a short-lived single-use ticket from `POST /ws/ticket`, since browsers cannot
//! set headers on WebSocket requests), refusing another user's path before the upgrade.
//! Each connection streams the account's events from the realtime service, resuming
//! after the last one delivered whenever that stream breaks, so a client sees every
//! event once and in order; `?since=<event_id>` does the same across reconnects.
//!
//! # Layout
//! - [`tickets`]: the single-use tickets.
//! - [`frames`]: events as JSON, and the frames clients send.
//! - [`connection`]: one connection's loop: events out, client frames in, heartbeats,
//!   limits.
//! - [`registry`]: the live connections: a cap per user, closing them all on stop.

pub mod connection;
pub mod frames;
pub mod registry;
pub mod tickets;
