//! What only the replica that hosts an account can do (it holds the account's Telegram
//! connection), behind one trait, and the one place that decides where that is.
//!
//! Every chat-service replica answers every request. Most are served from the store
//! (the chat cache); the few that need the account's Telegram connection (a typing
//! notice, a read mark, older history, a chat's full details, a file) go to its host:
//! [`LocalHost`] when this replica holds the account's shard, else [`RemoteHost`], the
//! peer replica that does, over the internal `talkapp.chat.v1.AccountHost` gRPC service.
//! [`Router::host_of`] makes that choice, once per call; the domain code calls the
//! [`AccountHost`] it gets and never knows which it was. A peer serves `AccountHost`
//! calls with its own [`LocalHost`] only, so a call is passed on at most once.
//!
//! # Layout
//! - [`AccountHost`], [`HostError`], [`OlderHistory`], [`ContactRef`]: the contract.
//! - [`local`]: [`LocalHost`], the accounts connected here.
//! - [`calls`]: every host call declared once; both ends of each are written from it.
//! - [`wire`]: each call's request and answer on the wire, both ways, and the error
//!   mapping both ways.
//! - [`remote`]: [`RemoteHost`], a peer replica over gRPC (the caller's end).
//! - [`server`]: [`AccountHostGrpcAdapter`], this replica's [`LocalHost`] served to the
//!   peers (the host's end).
//! - [`Router`]: which of the two hosts an account now.

pub mod calls;
pub mod local;
pub mod remote;
pub mod server;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use talkapp_common::ErrorCode;
use talkapp_store::{AccountKey, StoreError};
use talkapp_telegram::chat_info::ChatEdit;
use talkapp_telegram::chat_members::MemberChange;
use talkapp_telegram::error::TelegramError;
use talkapp_telegram::groups::{NewGroup, UserRef};
use talkapp_telegram::joins::{
    InviteEdit, InviteLink, InvitePage, InviteQuery, InviteSettings, JoinRequestPage,
    JoinRequestQuery, JoinTarget,
};
use talkapp_telegram::message_actions::PinOptions;
use talkapp_telegram::model::{ChatAction, ChatFullInfo};
use talkapp_telegram::profiles::UserProfile;
use talkapp_telegram::search::MessageSearch;
use talkapp_telegram::{contact_changes::NewContact, own_profile::ProfileChange};

pub use local::LocalHost;
pub use remote::RemoteHost;
pub use server::AccountHostGrpcAdapter;

use crate::media::{ByteRange, MediaDownload};
use crate::ownership::{Ownership, ShardHost};

/// Why a call to an account's host failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Nobody can reach the account's Telegram connection right now: its shard is
    /// moving, it is still connecting, or its host replica does not answer.
    #[error("telegram is not reachable for this account right now")]
    Unavailable,
    /// Not a file this account has (a malformed or unknown reference, another account's,
    /// a message without that file, or a file Telegram no longer serves).
    #[error("no such media")]
    MediaNotFound,
    /// No such message in the chat (Telegram's `MESSAGE_ID_INVALID` where a missing
    /// message is what it means: pinning).
    #[error("no such message")]
    MessageNotFound,
    /// A file larger than what is served.
    #[error("the file is {size} bytes, more than the {max} served")]
    TooLarge {
        /// The file's size (or the bytes read before giving up).
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Telegram refused or failed.
    #[error(transparent)]
    Telegram(#[from] TelegramError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The host replica answered with an error; its code is kept.
    #[error("{message}")]
    Remote {
        /// The host's code.
        code: ErrorCode,
        /// The host's message.
        message: String,
        /// The seconds the host asked to wait, where that applies.
        retry_after: Option<u64>,
    },
}

impl HostError {
    /// The stable code for this error, and the seconds to wait where that applies.
    pub fn code(&self) -> (ErrorCode, Option<u64>) {
        match self {
            Self::Unavailable => (ErrorCode::TelegramUnavailable, Some(5)),
            Self::MediaNotFound | Self::MessageNotFound => (ErrorCode::NotFound, None),
            Self::TooLarge { .. } => (ErrorCode::MediaTooLarge, None),
            Self::Telegram(error) => telegram_code(error),
            Self::Store(error) => store_code(error),
            Self::Remote {
                code, retry_after, ..
            } => (*code, *retry_after),
        }
    }

    /// Whether the account could not be reached (as opposed to a refusal): a read can
    /// then serve what the cache holds.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable => true,
            Self::Telegram(error) => error.is_transient(),
            Self::Remote { code, .. } => matches!(
                code,
                ErrorCode::TelegramUnavailable | ErrorCode::ServiceUnavailable | ErrorCode::Timeout
            ),
            Self::MediaNotFound
            | Self::MessageNotFound
            | Self::TooLarge { .. }
            | Self::Store(_) => false,
        }
    }
}

/// The code of a Telegram error, and the seconds to wait where that applies.
pub fn telegram_code(error: &TelegramError) -> (ErrorCode, Option<u64>) {
    match error {
        TelegramError::FloodWait { seconds } => {
            (ErrorCode::TelegramFloodWait, Some(u64::from(*seconds)))
        }
        TelegramError::UnknownChat(_) => (ErrorCode::NotFound, None),
        TelegramError::Refused { code, name } => refusal_code(*code, name),
        TelegramError::Unavailable(_) | TelegramError::NotConnected => {
            (ErrorCode::TelegramUnavailable, Some(5))
        }
        TelegramError::LoggedOut(_) => (ErrorCode::Forbidden, None),
        TelegramError::Internal(_) => (ErrorCode::Internal, None),
    }
}

/// How long to wait after `PEER_FLOOD`: Telegram limits the account for adding or
/// messaging strangers and does not say for how long; an hour is a cautious first wait.
const PEER_FLOOD_RETRY_AFTER_SECS: u64 = 3600;

/// The code of a Telegram refusal, by Telegram's error name.
fn refusal_code(code: i32, name: &str) -> (ErrorCode, Option<u64>) {
    if let Some(profile_code) = crate::profile_edits::refusal_code(name) {
        return (profile_code, None);
    }
    match name {
        "USER_PRIVACY_RESTRICTED" | "USER_NOT_MUTUAL_CONTACT" => {
            (ErrorCode::TelegramPrivacyRestricted, None)
        }
        "USER_ALREADY_PARTICIPANT" => (ErrorCode::AlreadyParticipant, None),
        "USER_NOT_PARTICIPANT" => (ErrorCode::NotParticipant, None),
        "USER_ADMIN_INVALID" => (ErrorCode::TelegramAdminInvalid, None),
        "USER_CREATOR" => (ErrorCode::ChatCreator, None),
        // INVITE_REVOKED_MISSING: revoking or editing a link revoked already.
        "INVITE_HASH_EXPIRED" | "INVITE_REVOKED_MISSING" => (ErrorCode::InviteExpired, None),
        "INVITE_HASH_INVALID" | "INVITE_HASH_EMPTY" => (ErrorCode::InviteInvalid, None),
        "CHANNEL_PRIVATE" => (ErrorCode::ChannelPrivate, None),
        "CHANNELS_TOO_MUCH" | "USER_CHANNELS_TOO_MUCH" => (ErrorCode::TooManyChannels, None),
        "CHAT_ADMIN_REQUIRED" | "RIGHT_FORBIDDEN" => (ErrorCode::TelegramAdminRequired, None),
        "PHOTO_INVALID"
        | "IMAGE_PROCESS_FAILED"
        | "PHOTO_INVALID_DIMENSIONS"
        | "PHOTO_EXT_INVALID"
        | "PHOTO_FILE_MISSING" => (ErrorCode::PhotoInvalid, None),
        "PHOTO_CROP_SIZE_SMALL" => (ErrorCode::PhotoTooSmall, None),
        "PEER_FLOOD" => (
            ErrorCode::TelegramFloodWait,
            Some(PEER_FLOOD_RETRY_AFTER_SECS),
        ),
        "CHANNEL_INVALID"
        | "CHAT_ID_INVALID"
        | "PEER_ID_INVALID"
        | "USER_ID_INVALID"
        | "USERNAME_NOT_OCCUPIED"
        | "HIDE_REQUESTER_MISSING"
        | "PHONE_NOT_OCCUPIED" => (ErrorCode::NotFound, None),
        _ if code == 403 => (ErrorCode::Forbidden, None),
        _ => (ErrorCode::ValidationFailed, None),
    }
}

/// The code of a store error, and the seconds to wait where that applies.
pub fn store_code(error: &StoreError) -> (ErrorCode, Option<u64>) {
    match error {
        StoreError::Conflict(_) => (ErrorCode::ValidationFailed, None),
        StoreError::Unavailable(_) => (ErrorCode::ServiceUnavailable, Some(2)),
        StoreError::Internal(_) => (ErrorCode::Internal, None),
    }
}

/// Older history to fetch into the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OlderHistory {
    /// The chat.
    pub chat_id: i64,
    /// Messages older than this id; `None`: from the newest.
    pub below_id: Option<i32>,
    /// Keep fetching until messages older than this date (Unix seconds) are cached too.
    pub down_to_date: Option<i64>,
    /// At least this many (when no date is given), at most 1,000.
    pub limit: u32,
}

/// One of the account's contacts, as its host names it (the user is in the cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactRef {
    /// The contact's Telegram user id.
    pub user_id: i64,
    /// Whether they have the account in their contacts too.
    pub mutual: bool,
}

/// A group or channel its host created (and cached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCreated {
    /// The chat.
    pub chat_id: i64,
    /// Telegram user ids their privacy kept out.
    pub missing_members: Vec<i64>,
}

/// What an invite link shows, as its host tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteCheck {
    /// The account is a member: the chat (cached by the host).
    Member(i64),
    /// Not a member: a preview.
    Preview {
        /// The chat's title.
        title: String,
        /// Its description.
        about: String,
        /// `group`, `supergroup` or `channel`.
        kind: String,
        /// How many members it has.
        members_count: i32,
        /// Joining needs an admin's approval.
        request_needed: bool,
        /// The chat has a username.
        public: bool,
    },
}

/// Messages to forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardRequest {
    /// Where they are.
    pub from_chat_id: i64,
    /// Which.
    pub message_ids: Vec<i32>,
    /// Where they go.
    pub to_chat_id: i64,
    /// One per message: the same ids again make no second copies.
    pub random_ids: Vec<i64>,
    /// Without notification.
    pub silent: bool,
}

/// What only an account's host can do.
#[async_trait]
pub trait AccountHost: Send + Sync {
    /// Tells a chat what the user is doing.
    async fn send_chat_action(
        &self,
        key: AccountKey,
        chat_id: i64,
        action: ChatAction,
    ) -> Result<(), HostError>;

    /// Marks a chat read up to `max_id` (none: everything).
    async fn mark_read(
        &self,
        key: AccountKey,
        chat_id: i64,
        max_id: Option<i32>,
    ) -> Result<(), HostError>;

    /// Fetches older history from Telegram into the cache; returns how many messages were
    /// stored.
    async fn fetch_older_history(
        &self,
        key: AccountKey,
        older: OlderHistory,
    ) -> Result<u32, HostError>;

    /// What Telegram tells of a chat beyond the chat list.
    async fn chat_full(&self, key: AccountKey, chat_id: i64) -> Result<ChatFullInfo, HostError>;

    /// Downloads `range` of the file `media_ref` names.
    async fn download(
        &self,
        key: AccountKey,
        media_ref: &str,
        range: ByteRange,
    ) -> Result<MediaDownload, HostError>;

    /// Telegram's own message search; what it finds is stored in the cache (older
    /// messages among them) and named, newest first, as (chat id, message id).
    async fn search_messages(
        &self,
        key: AccountKey,
        search: &MessageSearch,
    ) -> Result<Vec<(i64, i32)>, HostError>;

    /// The account's contacts, in Telegram's order; their users (names, presence,
    /// photos) are stored in the cache, where the caller reads them.
    async fn contacts(&self, key: AccountKey) -> Result<Vec<ContactRef>, HostError>;
    /// Creates a group or channel with members and caches it as listed.
    async fn create_group(&self, key: AccountKey, new: NewGroup)
    -> Result<GroupCreated, HostError>;

    /// Replaces a sent message's text; the cache has the edited message when this
    /// returns.
    async fn edit_message(
        &self,
        key: AccountKey,
        chat_id: i64,
        message_id: i32,
        text: String,
    ) -> Result<(), HostError>;

    /// Deletes messages (for everyone when `revoke`; always in supergroups and
    /// channels); the cache and the account's event stream follow.
    async fn delete_messages(
        &self,
        key: AccountKey,
        chat_id: i64,
        message_ids: Vec<i32>,
        revoke: bool,
    ) -> Result<(), HostError>;

    /// Pins or unpins (`pin.unpin`) a message; the cache and the account's events
    /// follow Telegram's updates. A message Telegram does not know is
    /// [`HostError::MessageNotFound`].
    async fn pin_message(
        &self,
        key: AccountKey,
        chat_id: i64,
        message_id: i32,
        pin: PinOptions,
    ) -> Result<(), HostError>;

    /// Unpins every pinned message of a chat; the cache and the events follow.
    async fn unpin_all_messages(&self, key: AccountKey, chat_id: i64) -> Result<(), HostError>;

    /// Forwards messages; the copies are cached when this returns. Returns their ids.
    async fn forward_messages(
        &self,
        key: AccountKey,
        forward: ForwardRequest,
    ) -> Result<Vec<i32>, HostError>;

    /// A user's profile as the account sees it.
    async fn user_profile(&self, key: AccountKey, user_id: i64) -> Result<UserProfile, HostError>;

    /// Adds `user` to the chat and caches the chat anew; returns the user's id.
    async fn add_member(
        &self,
        key: AccountKey,
        chat_id: i64,
        user: UserRef,
    ) -> Result<i64, HostError>;

    /// The account's own profile.
    async fn own_profile(&self, key: AccountKey) -> Result<UserProfile, HostError>;

    /// Changes the account's names, bio and username; answers the profile as it is
    /// afterwards.
    async fn update_own_profile(
        &self,
        key: AccountKey,
        change: ProfileChange,
    ) -> Result<UserProfile, HostError>;

    /// Adds a contact (by phone, id or username); their user, as saved, is stored in the
    /// cache.
    async fn add_contact(
        &self,
        key: AccountKey,
        contact: NewContact,
    ) -> Result<ContactRef, HostError>;

    /// Deletes a contact; their user in the cache follows.
    async fn delete_contact(&self, key: AccountKey, user_id: i64) -> Result<(), HostError>;

    /// Telegram's people search; the users found are stored in the cache and named, in
    /// Telegram's order.
    async fn search_people(
        &self,
        key: AccountKey,
        query: &str,
        limit: i32,
    ) -> Result<Vec<i64>, HostError>;

    /// Removes a member, leaves, or promotes / demotes an admin; the cache follows (a
    /// chat left is marked left, which takes it off the chat list). Returns the user the
    /// change was about (the account's own when it left).
    async fn change_members(
        &self,
        key: AccountKey,
        chat_id: i64,
        change: MemberChange,
    ) -> Result<i64, HostError>;

    /// Changes a chat's title and / or description (a change to what it has already is
    /// no change); the cache has the chat as Telegram lists it now when this returns.
    async fn edit_chat(
        &self,
        key: AccountKey,
        chat_id: i64,
        edit: ChatEdit,
    ) -> Result<(), HostError>;

    /// Joins a chat by username or invite link; the chat is cached as listed and the
    /// account's sockets hear `chat.updated`. `None` when a join request was sent
    /// instead (the link needs an admin's approval).
    async fn join_chat(
        &self,
        key: AccountKey,
        target: JoinTarget,
    ) -> Result<Option<i64>, HostError>;

    /// What an invite link shows; a chat the account is in is cached.
    async fn check_invite(&self, key: AccountKey, hash: &str) -> Result<InviteCheck, HostError>;

    /// A new invite link to a chat the account administers.
    async fn export_invite(
        &self,
        key: AccountKey,
        chat_id: i64,
        settings: InviteSettings,
    ) -> Result<InviteLink, HostError>;

    /// The links the account made to a chat it administers, newest first.
    async fn list_invites(
        &self,
        key: AccountKey,
        chat_id: i64,
        query: InviteQuery,
    ) -> Result<InvitePage, HostError>;

    /// Revokes one of a chat's links or changes its settings; the link afterwards.
    async fn edit_invite(
        &self,
        key: AccountKey,
        chat_id: i64,
        edit: InviteEdit,
    ) -> Result<InviteLink, HostError>;

    /// The pending requests to join a chat the account administers, newest first.
    async fn join_requests(
        &self,
        key: AccountKey,
        chat_id: i64,
        query: JoinRequestQuery,
    ) -> Result<JoinRequestPage, HostError>;

    /// Approves (the user joins; the chat is cached anew) or declines a pending request
    /// to join.
    async fn answer_join_request(
        &self,
        key: AccountKey,
        chat_id: i64,
        user_id: i64,
        approve: bool,
    ) -> Result<(), HostError>;

    /// Sets a chat's photo from a pinned file (`Some`) or removes it (removing none is
    /// no change); the cache has the chat as Telegram lists it now when this returns.
    async fn set_chat_photo(
        &self,
        key: AccountKey,
        chat_id: i64,
        photo: Option<PhotoFile>,
    ) -> Result<(), HostError>;

    /// Sets the account's profile photo from a pinned file (`Some`) or removes the
    /// current one; answers the profile as it is afterwards (its user in the cache).
    async fn set_own_photo(
        &self,
        key: AccountKey,
        photo: Option<PhotoFile>,
    ) -> Result<UserProfile, HostError>;
}

/// An uploaded file pinned at the media service for a photo change; the account's host
/// reads its bytes from there, as a media send's (ADR 0020).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoFile {
    /// The job the file is pinned for.
    pub job_id: uuid::Uuid,
    /// The file.
    pub file_id: uuid::Uuid,
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// The type of its bytes.
    pub mime: String,
    /// Its name (may be empty).
    pub file_name: String,
}

/// Finds the host of an account: this replica or the peer that holds its shard.
pub struct Router {
    ownership: Arc<Ownership>,
    local: Arc<LocalHost>,
    peers: Mutex<HashMap<String, Arc<RemoteHost>>>,
}

impl Router {
    /// A router over this replica's shard `ownership` and its `local` accounts.
    pub fn new(ownership: Arc<Ownership>, local: Arc<LocalHost>) -> Self {
        Self {
            ownership,
            local,
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// Where the account's calls go now: [`HostError::Unavailable`] while nobody holds
    /// its shard (it is moving between replicas).
    pub fn host_of(&self, key: AccountKey) -> Result<Arc<dyn AccountHost>, HostError> {
        let shard = talkapp_store::shard_of(key.user_id, key.session_index);
        match self.ownership.host_of(shard) {
            ShardHost::Local => Ok(Arc::clone(&self.local) as Arc<dyn AccountHost>),
            ShardHost::Remote(address) => Ok(self.peer(&address)? as Arc<dyn AccountHost>),
            ShardHost::Unknown => Err(HostError::Unavailable),
        }
    }

    fn peer(&self, address: &str) -> Result<Arc<RemoteHost>, HostError> {
        let mut peers = self
            .peers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(peer) = peers.get(address) {
            return Ok(Arc::clone(peer));
        }
        let peer = Arc::new(RemoteHost::connect_lazy(address).map_err(|error| {
            tracing::warn!(%error, address, "a peer replica's address is not usable");
            HostError::Unavailable
        })?);
        peers.insert(address.to_owned(), Arc::clone(&peer));
        Ok(peer)
    }
}
