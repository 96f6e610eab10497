//! Everything TalkApp knows about talking to Telegram.
//!
//! This crate is TalkApp's one way to Telegram: the services use its [`account::Account`]
//! and [`login::Login`] and never grammers directly. Everything goes through the real
//! grammers client over MTProto, to Telegram itself or to the local sandbox.
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
//! - [`account`]: a linked account, connected: its supervised task (reconnects, ordered
//!   updates with gap recovery, session snapshots) and the calls made through it.
//! - [`download`]: what a download names and how a byte range maps onto `upload.getFile`.
//! - [`send_media`]: sending files: uploads in parallel parts, `messages.sendMedia` and
//!   albums (`messages.sendMultiMedia`), and what each account uploaded already.
//! - [`groups`]: creating groups and channels, adding members, naming users by id,
//!   username or phone.
//! - [`chat_info`]: a group's or channel's title and description.
//! - [`chat_members`]: removing members, leaving chats, promoting and demoting admins.
//! - [`message_actions`]: editing and deleting sent messages.
//! - [`profiles`]: a user's profile (`users.getFullUser`).
//! - [`own_profile`]: the account's own profile, read and changed (names, bio, username).
//! - [`contact_changes`]: adding contacts (by phone, id or username) and deleting them.
//! - [`photos`]: chat photos and the account's own profile photo, from uploaded files.
//! - [`people_search`]: Telegram's people search (`contacts.search`).
//! - [`search`]: Telegram's own message search and the contact list.
//! - [`model`]: chats, messages, users and updates as TalkApp sees them.
//! - [`convert`]: TL objects to [`model`] (pure functions).
//! - [`error`]: [`error::TelegramError`], what a failed call means for TalkApp.

pub mod account;
pub mod chat_info;
pub mod chat_members;
pub mod contact_changes;
pub mod convert;
pub mod download;
pub mod endpoint;
pub mod error;
pub mod groups;
pub mod joins;
pub mod login;
pub mod message_actions;
pub mod model;
pub mod own_profile;
pub mod people_search;
pub mod photos;
pub mod profiles;
pub mod sealing;
pub mod search;
pub mod send_media;
pub mod session;
