//! The WebSocket: a linked account's events, live, with replay after a reconnect.
//!
//! `GET /ws/{user_id}/{session_index}` upgrades after the same checks as REST (a bearer
//! token, or a short-lived single-use ticket from `POST /ws/ticket`, since browsers cannot
//! set headers on WebSocket requests), refusing another user's path before the upgrade.
//! The sockets of one account share one stream of its events from the realtime service
//! (a feed), resumed after the last event relayed whenever it breaks, so a client sees
//! every event once and in order; `?since=<event_id>` does the same across reconnects.
//!
//! # Layout
//! - [`tickets`]: the single-use tickets.
//! - [`frames`]: events as JSON, and the frames clients send.
//! - [`feeds`]: one event subscription per account, shared by its sockets here.
//! - [`connection`]: one connection's loop: events out, client frames in, heartbeats,
//!   limits.
//! - [`registry`]: the live connections: a cap per user, closing them all on stop.

pub mod connection;
pub mod feeds;
pub mod frames;
pub mod registry;
pub mod tickets;
