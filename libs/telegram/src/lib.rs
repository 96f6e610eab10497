//! Everything TalkApp knows about talking to Telegram.
//!
//! Work in progress (issue 3). So far: reaching Telegram (or the local sandbox), linking an
//! account step by step with state that can be persisted between steps, Telegram sessions
//! as grammers sees them, and their sealing at rest.
//!
//! # Layout
//! - [`session`]: [`session::StoredSession`], a grammers `Session` whose whole state can be
//!   snapshotted (auth keys, DC addresses, the peer cache, the update state) and that says
//!   when it changed, so the owner can persist it.
//! - [`endpoint`]: where Telegram is and how a connection is opened (the normal key
//!   exchange with Telegram, or a key issued out of band by the local sandbox).
//! - [`login`]: send the code, check it, check the 2FA password; each step starts from a
//!   session snapshot and returns the next one, so any process can take the next step.
//! - [`sealing`]: AES-256-GCM sealing of snapshots, bound to the row they belong to.

pub mod endpoint;
pub mod login;
pub mod sealing;
pub mod session;
