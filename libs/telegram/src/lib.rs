//! Everything TalkApp knows about talking to Telegram.
//!
//! Work in progress (issue 3). So far: Telegram sessions as grammers sees them, and their
//! sealing at rest.
//!
//! # Layout
//! - [`session`]: [`session::StoredSession`], a grammers `Session` whose whole state can be
//!   snapshotted (auth keys, DC addresses, the peer cache, the update state) and that says
//!   when it changed, so the owner can persist it.
//! - [`sealing`]: AES-256-GCM sealing of snapshots, bound to the row they belong to.

pub mod sealing;
pub mod session;
