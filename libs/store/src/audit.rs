//! The audit log: append-only records of security-relevant actions (sign-ins, sign-outs,
//! linking and unlinking Telegram accounts, every change made to Telegram on a user's
//! behalf, file deletions, operator actions). Nothing edits a record; only the retention
//! sweep ([`AuditStore::purge_audit`]) removes old ones.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Result;

/// The most records one [`AuditStore::audit_entries`] call returns.
pub const MAX_AUDIT_PAGE: u32 = 500;

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditOutcome {
    /// It was done (or accepted, for queued work).
    Success,
    /// It was refused for the caller's rights (403) or credentials (401).
    Denied,
    /// It failed for another reason (bad input, Telegram's refusal, a dependency).
    Failure,
}

impl AuditOutcome {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Failure => "failure",
        }
    }

    /// From the stored spelling.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "success" => Some(Self::Success),
            "denied" => Some(Self::Denied),
            "failure" => Some(Self::Failure),
            _ => None,
        }
    }

    /// The outcome an HTTP status says.
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=399 => Self::Success,
            401 | 403 => Self::Denied,
            _ => Self::Failure,
        }
    }
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditActor {
    /// A signed-in user (the record's `user_id`).
    User,
    /// An operator (the record's `user_id` is the user acted on, if any).
    Operator,
    /// Nobody signed in (a failed sign-in; `user_id` is the account it named, if any).
    Anonymous,
}

impl AuditActor {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Operator => "operator",
            Self::Anonymous => "anonymous",
        }
    }

    /// From the stored spelling.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "user" => Some(Self::User),
            "operator" => Some(Self::Operator),
            "anonymous" => Some(Self::Anonymous),
            _ => None,
        }
    }
}

/// A record to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    /// When the action ended.
    pub at: DateTime<Utc>,
    /// Whose log the record belongs to: the acting user, or the account acted on.
    pub user_id: Option<Uuid>,
    /// Who acted.
    pub actor: AuditActor,
    /// What was done, dotted (`auth.sign_in`, `telegram.message.send`, `media.delete`).
    pub action: String,
    /// What it was done to: a small JSON object (`{"session_index":"1","chat_id":"42"}`).
    pub target: Option<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The HTTP status answered.
    pub status: u16,
    /// The problem's `code` when it failed.
    pub error_code: Option<String>,
    /// The client's address.
    pub client_address: Option<String>,
    /// The client's `User-Agent`, cut to 256 bytes.
    pub user_agent: Option<String>,
    /// The request's id (`X-Request-Id`).
    pub request_id: Option<String>,
    /// The trace it was part of (W3C trace id, hex), when tracing is on.
    pub trace_id: Option<String>,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Increasing with the order records were appended; the paging cursor.
    pub id: i64,
    /// The record.
    pub entry: NewAuditEntry,
}

/// Which records to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// One user's log; `None`: everyone's (operators only).
    pub user_id: Option<Uuid>,
    /// Only actions starting with this (`auth.`, `telegram.message.send`).
    pub action_prefix: Option<String>,
    /// Only records with an id below this (the previous page's last id).
    pub before_id: Option<i64>,
    /// At most this many (capped at [`MAX_AUDIT_PAGE`]).
    pub limit: u32,
}

/// The audit log's records.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `entries` in order, all or none.
    async fn append_audit(&self, entries: &[NewAuditEntry]) -> Result<()>;

    /// Records matching `query`, newest first.
    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>>;

    /// Removes the records older than `before` (the retention sweep); how many went.
    async fn purge_audit(&self, before: DateTime<Utc>) -> Result<u64>;
}

/// `prefix` as a `LIKE` pattern that matches it literally, then anything (`\` escapes).
pub(crate) fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for character in prefix.chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}
