//! What operators need of the accounts: listing users with their activity, disabling and
//! enabling them, ending all of a user's sign-in sessions at once; and the external
//! identity provider's users (subjects, with no account here): disabling them, listing
//! them or reading one, with when each was last seen; and each user's activity per day
//! (requests, errors, sends, sockets), added to in batches by the gateways (ADR 0037).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::{Result, User};

/// The most users one [`UserAdminStore::list_users`] call returns.
pub const MAX_USERS_PAGE: u32 = 200;

/// A built-in account as an operator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct UserOverview {
    /// The account.
    pub user: User,
    /// When an operator disabled it (`None`: enabled).
    pub disabled_at: Option<DateTime<Utc>>,
    /// Linked Telegram accounts.
    pub linked_accounts: u32,
    /// Sign-in sessions not ended (live or idle).
    pub open_sign_ins: u32,
}

/// An external identity provider's user (a subject: no account here) as an operator
/// sees it: one seen using TalkApp, one an operator disabled, or one with linked
/// Telegram accounts.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectOverview {
    /// The subject (the `sub` of the provider's tokens).
    pub subject_id: Uuid,
    /// When it was last seen (recorded at most once a day; `None`: not recorded yet).
    pub last_seen_at: Option<DateTime<Utc>>,
    /// When an operator disabled it (`None`: enabled).
    pub disabled_at: Option<DateTime<Utc>>,
    /// Linked Telegram accounts.
    pub linked_accounts: u32,
}

/// Where a page of users starts: after this account (ordered by creation, then id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserCursor {
    /// The previous page's last account's creation time.
    pub created_at: DateTime<Utc>,
    /// And its id.
    pub id: Uuid,
}

/// Figures about the whole service, for the gauges an operator's dashboard shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivitySummary {
    /// Built-in accounts.
    pub users: u64,
    /// Users whose sign-in session was used in the last day (built-in accounts), and
    /// external subjects seen in it ([`UserAdminStore::note_subject_seen`]).
    pub active_1d: u64,
    /// ... in the last seven days.
    pub active_7d: u64,
    /// Linked Telegram accounts, by connection status (`connected`, `reconnecting`, ...).
    pub linked_accounts: Vec<(String, u64)>,
    /// Send jobs not final yet (`queued` or `sending`).
    pub waiting_jobs: u64,
    /// When the oldest of them was accepted.
    pub oldest_waiting_at: Option<DateTime<Utc>>,
}

/// What one user did on one day (UTC): counts, added to by every gateway's flush.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActivityCounts {
    /// API requests made with the user's token.
    pub requests: u64,
    /// Of them, answered 4xx.
    pub client_errors: u64,
    /// Of them, answered 5xx.
    pub server_errors: u64,
    /// Messages accepted for sending (`send_message` and `send_media` answered 202).
    pub sends: u64,
    /// WebSocket connections opened.
    pub sockets: u64,
}

impl ActivityCounts {
    /// Adds `other` to these counts (saturating).
    pub fn add(&mut self, other: &ActivityCounts) {
        self.requests = self.requests.saturating_add(other.requests);
        self.client_errors = self.client_errors.saturating_add(other.client_errors);
        self.server_errors = self.server_errors.saturating_add(other.server_errors);
        self.sends = self.sends.saturating_add(other.sends);
        self.sockets = self.sockets.saturating_add(other.sockets);
    }
}

/// Counts to add to one user's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityDelta {
    /// The user (a built-in account or an external provider's subject).
    pub user_id: Uuid,
    /// The day (UTC).
    pub day: NaiveDate,
    /// What to add.
    pub counts: ActivityCounts,
}

/// Operators' view of the accounts.
#[async_trait]
pub trait UserAdminStore: Send + Sync {
    /// The service's figures as of `now`.
    async fn activity_summary(&self, now: DateTime<Utc>) -> Result<ActivitySummary>;

    /// Accounts in order of creation (oldest first), after `after`.
    async fn list_users(&self, after: Option<UserCursor>, limit: u32) -> Result<Vec<UserOverview>>;

    /// One account's overview.
    async fn user_overview(&self, user_id: Uuid) -> Result<Option<UserOverview>>;

    /// Disables (`Some(at)`) or enables (`None`) an account; false when there is none.
    /// Disabling keeps the first time when repeated.
    async fn set_user_disabled(&self, user_id: Uuid, at: Option<DateTime<Utc>>) -> Result<bool>;

    /// When the account was disabled (`None`: enabled, or no such account).
    async fn user_disabled_at(&self, user_id: Uuid) -> Result<Option<DateTime<Utc>>>;

    /// How many Telegram accounts user `user_id` (a built-in account or an external
    /// provider's subject) has linked; 0 for an unknown user.
    async fn linked_accounts(&self, user_id: Uuid) -> Result<u32>;

    /// Ends every open sign-in session of the account; the ids of those it ended.
    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<Vec<Uuid>>;

    /// Disables (`Some(at)`) or enables (`None`) an external provider's subject (a user
    /// with no account here); when it is disabled afterwards (`None`: enabled).
    /// Disabling keeps the first time when repeated.
    async fn set_subject_disabled(
        &self,
        subject_id: Uuid,
        at: Option<DateTime<Utc>>,
    ) -> Result<Option<DateTime<Utc>>>;

    /// Every disabled external subject, with when it was disabled.
    async fn disabled_subjects(&self) -> Result<Vec<(Uuid, DateTime<Utc>)>>;

    /// External subjects (seen, disabled, or owning linked accounts; never a built-in
    /// account) in the order of their ids, after `after`; at most `limit`
    /// (capped at [`MAX_USERS_PAGE`]).
    async fn list_subjects(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<SubjectOverview>>;

    /// One external subject's overview: `None` when `subject_id` is a built-in account,
    /// or a subject neither seen, nor disabled, nor owning linked accounts (one
    /// [`UserAdminStore::list_subjects`] would not list).
    async fn subject_overview(&self, subject_id: Uuid) -> Result<Option<SubjectOverview>>;

    /// Records that external subject `subject_id` was seen at `at` (a later time than the
    /// one kept replaces it; an earlier one changes nothing).
    async fn note_subject_seen(&self, subject_id: Uuid, at: DateTime<Utc>) -> Result<()>;

    /// Adds each delta to its user's day (a day not stored yet starts at zero), all in
    /// one transaction: either every delta is added or none.
    async fn add_user_activity(&self, deltas: &[ActivityDelta]) -> Result<()>;

    /// User `user_id`'s days from `since` on (inclusive), newest first.
    async fn user_activity(
        &self,
        user_id: Uuid,
        since: NaiveDate,
    ) -> Result<Vec<(NaiveDate, ActivityCounts)>>;

    /// Deletes every user's days before `day`; how many rows went.
    async fn delete_activity_before(&self, day: NaiveDate) -> Result<u64>;
}
