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

/// The Telegram side of a linked account: its Telegram user, names and phone.
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
pub enum LinkStatus {
    /// Connected and receiving updates.
    Connected,
    /// Connecting or reconnecting.
    Connecting,
    /// Telegram ended the authorisation; the user must link again.
    LoggedOut,
    /// Telegram asked us to wait before the next request.
    FloodWait,
}

impl LinkStatus {
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
pub struct LinkedAccount {
    /// Owner (TalkApp user).
    pub user_id: Uuid,
    /// 1, 2, 3, ... per user; never reused.
    pub session_index: u32,
    /// The Telegram account.
    pub account: TelegramAccount,
    /// Connection state.
    pub status: LinkStatus,
    /// When it was linked.
    pub linked_at: DateTime<Utc>,
    /// When its Telegram link was last found open but delivering no updates (and was
    /// replaced).
    pub link_stalled_at: Option<DateTime<Utc>>,
}

/// A linked account as the user's list of them shows it
/// ([`crate::SessionListStore::linked_accounts_with_own_users`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedLinkedAccount {
    /// The account.
    pub linked: LinkedAccount,
    /// Its own Telegram user as the account's chat cache holds it (its photo is in the
    /// details); `None` until the account's host has cached it.
    pub own_user: Option<crate::CachedUser>,
}

/// Number of shards linked accounts are spread over; a chat-service replica hosts the
/// accounts of the shards it holds. Fixed: changing it would move every account.
pub const SHARD_COUNT: u16 = 64;

/// The shard of a linked account: stable for its lifetime, spread evenly.
pub fn shard_of(user_id: Uuid, session_index: u32) -> u16 {
    // FNV-1a over the id and the index: stable across processes and Rust versions (the
    // standard hasher is not).
    let mut hash: u32 = 0x811c_9dc5;
    for byte in user_id
        .as_bytes()
        .iter()
        .chain(session_index.to_be_bytes().iter())
    {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash % u32::from(SHARD_COUNT)) as u16
}

/// A linked account as the host of its connection needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedAccount {
    /// The linked account, as listed to its user.
    pub linked: LinkedAccount,
    /// Its shard.
    pub shard: u16,
    /// The sealed grammers session; `None` once Telegram ended the authorisation.
    pub sealed_session: Option<Vec<u8>>,
}

/// Where a pending login stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginState {
    /// The code was sent; the code is next.
    CodeSent,
    /// The code was right and the account has 2FA; the password is next.
    PasswordNeeded,
}

impl LoginState {
    /// Database form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CodeSent => "code_sent",
            Self::PasswordNeeded => "password_needed",
        }
    }

    /// Parses the database form.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "code_sent" => Some(Self::CodeSent),
            "password_needed" => Some(Self::PasswordNeeded),
            _ => None,
        }
    }
}

/// A login in progress: the code was requested and the account is not linked yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramLogin {
    /// Its id, handed to the user for the next steps.
    pub login_id: Uuid,
    /// Who is linking.
    pub user_id: Uuid,
    /// The phone, digits only.
    pub phone: String,
    /// Telegram's handle of the code that was sent.
    pub phone_code_hash: String,
    /// The sealed grammers session the code is bound to.
    pub sealed_session: Vec<u8>,
    /// The next step.
    pub state: LoginState,
    /// Codes or passwords tried so far.
    pub attempts: u32,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread_over_every_shard() {
        let user = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(shard_of(user, 1), shard_of(user, 1));
        let mut seen = std::collections::HashSet::new();
        for n in 0..4096_u128 {
            let shard = shard_of(Uuid::from_u128(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)), 1);
            assert!(shard < SHARD_COUNT);
            seen.insert(shard);
        }
        assert_eq!(seen.len(), usize::from(SHARD_COUNT));
    }
}
