//! The records the store keeps.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A built-in TalkApp account about to be created.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// New random id.
    pub id: Uuid,
    /// The email as the user typed it.
    pub email: String,
    /// Lower-cased, trimmed email used for uniqueness and sign-in.
    pub email_normalized: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A built-in TalkApp account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Account id.
    pub id: Uuid,
    /// Email as registered.
    pub email: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Last successful sign-in.
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

/// An account with its password hash, for sign-in only.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    /// The account.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// One sign-in: the family of refresh tokens issued since a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSession {
    /// Session id (the `sid` claim of its access tokens).
    pub id: Uuid,
    /// Whose session.
    pub user_id: Uuid,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Last use (refresh or authenticated request).
    pub last_seen_at: DateTime<Utc>,
    /// Absolute end of the family, whatever the activity.
    pub expires_at: DateTime<Utc>,
    /// When it was ended, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What became of a presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Spent, and the next one stored. The session as it was before this use, so the
    /// caller can judge inactivity from the previous use.
    Rotated(AuthSession),
    /// It had been spent already: the family is now revoked.
    Reused {
        /// The revoked session.
        session_id: Uuid,
    },
    /// No such token.
    Unknown,
}

/// The Telegram account behind a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramAccount {
    /// Telegram user id.
    pub telegram_user_id: i64,
    /// First name.
    pub first_name: String,
    /// Last name (may be empty).
    pub last_name: String,
    /// Username without `@` (may be empty).
    pub username: String,
    /// Phone number in international form, digits only.
    pub phone: String,
}

/// Connection state of a linked Telegram account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Connected and receiving updates.
    Connected,
    /// Connecting or reconnecting.
    Connecting,
    /// Telegram ended the authorisation; the user must link again.
    LoggedOut,
    /// Telegram asked us to wait before the next request.
    FloodWait,
}

impl SessionStatus {
    /// Database and wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Connecting => "connecting",
            Self::LoggedOut => "logged_out",
            Self::FloodWait => "flood_wait",
        }
    }

    /// Parses the database form.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "connected" => Some(Self::Connected),
            "connecting" => Some(Self::Connecting),
            "logged_out" => Some(Self::LoggedOut),
            "flood_wait" => Some(Self::FloodWait),
            _ => None,
        }
    }
}

/// A linked Telegram account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramSession {
    /// Owner (TalkApp user).
    pub user_id: Uuid,
    /// 1, 2, 3, ... per user; never reused.
    pub session_index: u32,
    /// The Telegram account.
    pub account: TelegramAccount,
    /// Connection state.
    pub status: SessionStatus,
    /// When it was linked.
    pub linked_at: DateTime<Utc>,
}
