//! Chat domain logic, independent of the transport.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use talkapp_common::ErrorCode;
use talkapp_store::{AccountKey, ActionClaim, ActionClaimed, ChatStore, SendJob, StoreError};
use talkapp_telegram::chat_members::MemberChange;
use talkapp_telegram::message_actions::PinOptions;
use talkapp_telegram::search::{Contact, MessageSearch};
use uuid::Uuid;

use crate::account_host::{HostError, Router, store_code};
use crate::actions::{action_names, parse_action};
use crate::cache::user_from_record;
use crate::hosted_accounts::HostedAccounts;
use crate::linking::{LinkError, LinkStep, Linking, StartedLogin};
use crate::media::{ByteRange, MediaDownload};
use crate::ownership::Ownership;
use crate::reads::{ChatDetailsView, HistoryPage, HistoryParams, ReadError, Reads};
use crate::sends::{MediaSendRequest, SendError, SendRequest, Sends};

mod joins;
mod people_search;
mod photos;
mod profile_actions;
pub use joins::{InviteChange, InvitePreviewView, JoinedView};
pub use profile_actions::ProfileFields;

/// The longest text of a Telegram search, in characters (as search-service's queries).
const MAX_SEARCH_CHARS: usize = 256;
/// The most messages one Telegram search returns (Telegram's own page size).
const MAX_SEARCH_LIMIT: i32 = 100;

/// How long an unfinished idempotent action keeps its key before a retry may take it
/// over (its process died midway); longer than any call to an account's host.
const ACTION_CLAIM_STALE_AFTER: Duration = Duration::from_secs(120);

/// A group or channel created, as listed.
#[derive(Debug, Clone)]
pub struct CreatedGroupView {
    /// The chat as the chat list shows it.
    pub chat: crate::reads::ChatView,
    /// Telegram user ids whose privacy kept them out.
    pub missing_members: Vec<i64>,
}

/// What a finished `create_group` keeps for its retries.
#[derive(serde::Serialize, serde::Deserialize)]
struct CreateGroupOutcome {
    chat_id: i64,
    missing_members: Vec<i64>,
}

/// Telegram's most messages deleted by one call.
pub const MAX_DELETED_AT_ONCE: usize = 100;

/// Why a chat operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The request is not acceptable.
    #[error("{0}")]
    InvalidArgument(String),
    /// The user has no such linked account.
    #[error("no linked telegram account {0}")]
    AccountNotFound(u32),
    /// No such send job.
    #[error("no such send job")]
    JobNotFound,
    /// Linking failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A read failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A send was not accepted.
    #[error(transparent)]
    Send(#[from] SendError),
    /// The account's host could not do it.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The idempotency key was used before for another request.
    #[error("the idempotency key was used for another request")]
    IdempotencyKeyReused,
    /// The first request with the idempotency key is still being carried out.
    #[error("the first request with this idempotency key is still running; retry shortly")]
    ActionInProgress,
    /// The file asked for as a photo is no still image.
    #[error("{0}")]
    PhotoInvalid(String),
}

impl ChatError {
    /// The stable code for this error, and the seconds to wait where that applies.
    pub fn code(&self) -> (ErrorCode, Option<u64>) {
        match self {
            Self::InvalidArgument(_)
            | Self::Read(ReadError::Invalid(_))
            | Self::Send(SendError::Invalid(_)) => (ErrorCode::ValidationFailed, None),
            Self::AccountNotFound(_)
            | Self::JobNotFound
            | Self::Send(SendError::FileNotFound)
            | Self::Read(ReadError::ChatNotFound(_)) => (ErrorCode::NotFound, None),
            Self::Send(SendError::NotSendableAs(_)) => (ErrorCode::MediaKindNotSendable, None),
            Self::Send(SendError::MediaUnavailable) => (ErrorCode::ServiceUnavailable, Some(2)),
            Self::Link(error) => error.code(),
            Self::Host(error) | Self::Read(ReadError::Host(error)) => error.code(),
            Self::Store(error)
            | Self::Read(ReadError::Store(error))
            | Self::Send(SendError::Store(error)) => store_code(error),
            Self::IdempotencyKeyReused => (ErrorCode::IdempotencyKeyReused, None),
            Self::ActionInProgress => (ErrorCode::RequestInProgress, Some(1)),
            Self::PhotoInvalid(_) => (ErrorCode::PhotoInvalid, None),
        }
    }
}

fn parse_uuid(field: &str, value: &str) -> Result<Uuid, ChatError> {
    Uuid::parse_str(value)
        .map_err(|_| ChatError::InvalidArgument(format!("{field} must be a UUID")))
}

/// Parses a Bot-API-style chat id.
pub fn parse_chat_id(value: &str) -> Result<i64, ChatError> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id != 0)
        .ok_or_else(|| ChatError::InvalidArgument("chat_id must be a Telegram chat id".into()))
}

/// Parses a Telegram user id (`telegram_user_id`: positive).
pub fn parse_user_id(value: &str) -> Result<i64, ChatError> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ChatError::InvalidArgument("telegram_user_id must be a Telegram user id".into())
        })
}

/// The chat service's operations.
pub struct ChatService {
    store: Arc<dyn ChatStore>,
    linking: Linking,
    hosted_accounts: Arc<HostedAccounts>,
    ownership: Arc<Ownership>,
    reads: Arc<Reads>,
    sends: Sends,
    router: Arc<Router>,
    known_accounts: talkapp_views::cached_reads::KnownAccounts,
}

impl ChatService {
    /// The service's parts.
    pub fn new(
        store: Arc<dyn ChatStore>,
        linking: Linking,
        hosted_accounts: Arc<HostedAccounts>,
        ownership: Arc<Ownership>,
        reads: Arc<Reads>,
        sends: Sends,
        router: Arc<Router>,
    ) -> Self {
        Self {
            store,
            linking,
            hosted_accounts,
            ownership,
            reads,
            sends,
            router,
            known_accounts: talkapp_views::cached_reads::KnownAccounts::default(),
        }
    }

    /// The linked account `user_id`/`session_index`, checked to exist.
    pub async fn account(
        &self,
        user_id: &str,
        session_index: u32,
    ) -> Result<AccountKey, ChatError> {
        let key = AccountKey {
            user_id: parse_uuid("user_id", user_id)?,
            session_index,
        };
        if session_index == 0 {
            return Err(ChatError::InvalidArgument(
                "session_index starts at 1".into(),
            ));
        }
        if self.known_accounts.is_fresh(key) {
            return Ok(key);
        }
        if self
            .store
            .hosted_account(key.user_id, key.session_index)
            .await?
            .is_none()
        {
            return Err(ChatError::AccountNotFound(session_index));
        }
        self.known_accounts.remember(key);
        Ok(key)
    }

    fn forget_account(&self, key: AccountKey) {
        self.known_accounts.forget(key);
    }

    /// Starts linking the account of `phone`.
    #[tracing::instrument(skip_all)]
    pub async fn start_login(&self, user_id: &str, phone: &str) -> Result<StartedLogin, ChatError> {
        let user_id = parse_uuid("user_id", user_id)?;
        Ok(self.linking.start(user_id, phone).await?)
    }

    /// The login named by its id or, without one, by its phone.
    async fn login_named(
        &self,
        user_id: Uuid,
        login_id: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Uuid, ChatError> {
        match (login_id, phone) {
            (None, Some(phone)) if !phone.is_empty() => {
                Ok(self.linking.login_by_phone(user_id, phone).await?)
            }
            _ => parse_uuid("login_id", login_id.unwrap_or_default()),
        }
    }

    /// Checks a login code (of the login `login_id`, or of the newest login of `phone`
    /// when there is no `login_id`); connects the account when it is linked.
    #[tracing::instrument(skip_all)]
    pub async fn submit_login_code(
        &self,
        user_id: &str,
        login_id: Option<&str>,
        phone: Option<&str>,
        code: &str,
    ) -> Result<LinkStep, ChatError> {
        let user_id = parse_uuid("user_id", user_id)?;
        let login_id = self.login_named(user_id, login_id, phone).await?;
        let step = self.linking.submit_code(user_id, login_id, code).await?;
        self.connect_if_linked(&step).await?;
        Ok(step)
    }

    /// Checks a 2FA password (login named as for `submit_login_code`); connects the
    /// account.
    #[tracing::instrument(skip_all)]
    pub async fn submit_login_password(
        &self,
        user_id: &str,
        login_id: Option<&str>,
        phone: Option<&str>,
        password: &str,
    ) -> Result<LinkStep, ChatError> {
        let user_id = parse_uuid("user_id", user_id)?;
        let login_id = self.login_named(user_id, login_id, phone).await?;
        let step = self
            .linking
            .submit_password(user_id, login_id, password)
            .await?;
        self.connect_if_linked(&step).await?;
        Ok(step)
    }

    /// A newly linked account is connected by whichever replica holds its shard: here
    /// at once when that is this one, else by the holder's next look at its shards.
    async fn connect_if_linked(&self, step: &LinkStep) -> Result<(), ChatError> {
        if let LinkStep::Linked(linked) = step
            && let Some(hosted) = self
                .store
                .hosted_account(linked.user_id, linked.session_index)
                .await?
        {
            self.host_if_held(hosted);
        }
        Ok(())
    }

    fn host_if_held(&self, hosted: talkapp_store::HostedAccount) {
        let shard = talkapp_store::shard_of(hosted.linked.user_id, hosted.linked.session_index);
        if self.ownership.holds(shard) {
            self.hosted_accounts.host(hosted);
        }
    }

    /// Disconnects the account, logs it out at Telegram and forgets it and its cache.
    #[tracing::instrument(skip(self))]
    pub async fn unlink_account(&self, user_id: &str, session_index: u32) -> Result<(), ChatError> {
        let user_id = parse_uuid("user_id", user_id)?;
        if session_index == 0 {
            return Err(ChatError::InvalidArgument(
                "session_index starts at 1".into(),
            ));
        }
        let key = AccountKey {
            user_id,
            session_index,
        };
        self.hosted_accounts.release(key).await;
        match self.linking.unlink(user_id, session_index).await {
            Ok(()) => {
                self.forget_account(key);
                self.store.clear_cache(key).await?;
                Ok(())
            }
            Err(error) => {
                // Not logged out (Telegram away): the account stays linked, so it must stay
                // connected too.
                if let Ok(Some(hosted)) = self.store.hosted_account(user_id, session_index).await {
                    self.host_if_held(hosted);
                }
                Err(error.into())
            }
        }
    }

    /// A chat with its details.
    pub async fn chat(&self, key: AccountKey, chat_id: i64) -> Result<ChatDetailsView, ChatError> {
        Ok(self.reads.chat_details(key, chat_id).await?)
    }

    /// A page of a chat's history.
    pub async fn history(
        &self,
        key: AccountKey,
        chat_id: i64,
        params: HistoryParams,
    ) -> Result<HistoryPage, ChatError> {
        Ok(self.reads.history(key, chat_id, params).await?)
    }

    /// Queues a message; the chat must be one the account knows.
    pub async fn send_message(
        &self,
        key: AccountKey,
        request: SendRequest,
    ) -> Result<SendJob, ChatError> {
        let chat_id = request.chat_id;
        self.sends
            .submit(key, request)
            .await?
            .ok_or_else(|| ReadError::ChatNotFound(chat_id).into())
    }

    /// Sends go only to chats the account knows (its cache has them).
    async fn known_chat(&self, key: AccountKey, chat_id: i64) -> Result<(), ChatError> {
        if self.store.cached_chat(key, chat_id).await?.is_none() {
            return Err(ReadError::ChatNotFound(chat_id).into());
        }
        Ok(())
    }

    /// Queues uploaded files as a message; the chat must be one the account knows.
    pub async fn send_media(
        &self,
        key: AccountKey,
        request: MediaSendRequest,
    ) -> Result<SendJob, ChatError> {
        let chat_id = request.chat_id;
        self.sends
            .submit_media(key, request)
            .await?
            .ok_or_else(|| ReadError::ChatNotFound(chat_id).into())
    }

    /// Where a send job stands.
    pub async fn message_status(
        &self,
        key: AccountKey,
        job_id: &str,
    ) -> Result<SendJob, ChatError> {
        let job_id = parse_uuid("job_id", job_id)?;
        self.store
            .send_job(key, job_id)
            .await?
            .ok_or(ChatError::JobNotFound)
    }

    /// Tells the chat what the user is doing, through the account's host.
    pub async fn send_chat_action(
        &self,
        key: AccountKey,
        chat_id: i64,
        action: &str,
    ) -> Result<(), ChatError> {
        let action = parse_action(action).ok_or_else(|| {
            ChatError::InvalidArgument(format!("action must be one of {}", action_names()))
        })?;
        Ok(self
            .router
            .host_of(key)?
            .send_chat_action(key, chat_id, action)
            .await?)
    }

    /// Marks the chat read up to `max_id` (none: all), through the account's host.
    pub async fn mark_read(
        &self,
        key: AccountKey,
        chat_id: i64,
        max_id: Option<i32>,
    ) -> Result<(), ChatError> {
        if self.store.cached_chat(key, chat_id).await?.is_none() {
            return Err(ReadError::ChatNotFound(chat_id).into());
        }
        Ok(self
            .router
            .host_of(key)?
            .mark_read(key, chat_id, max_id)
            .await?)
    }

    /// Does `act` once per idempotency key: a retry with the key gets the first result
    /// (as `act` returned it), another request under the key is refused. Without a key
    /// `act` just runs. A failed `act` gives the key up, so a retry tries again.
    async fn once<F, Fut>(
        &self,
        key: AccountKey,
        idempotency_key: Option<&str>,
        action: &str,
        request_digest: String,
        act: F,
    ) -> Result<String, ChatError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<String, ChatError>>,
    {
        let Some(idempotency_key) = idempotency_key else {
            return act().await;
        };
        let claim = ActionClaim {
            key,
            idempotency_key: idempotency_key.to_owned(),
            action: action.to_owned(),
            request_hash: request_digest,
            at: chrono::Utc::now(),
            stale_after: chrono::Duration::from_std(ACTION_CLAIM_STALE_AFTER)
                .unwrap_or_else(|_| chrono::Duration::seconds(120)),
        };
        match self.store.claim_action(&claim).await? {
            ActionClaimed::Claimed => {}
            ActionClaimed::Done(result) => return Ok(result),
            ActionClaimed::InProgress => return Err(ChatError::ActionInProgress),
            ActionClaimed::Mismatch => return Err(ChatError::IdempotencyKeyReused),
        }
        match act().await {
            Ok(result) => {
                self.store
                    .finish_action(key, idempotency_key, &result)
                    .await?;
                Ok(result)
            }
            Err(error) => {
                if let Err(release_error) = self.store.release_action(key, idempotency_key).await {
                    tracing::warn!(%release_error, "idempotency key not released");
                }
                Err(error)
            }
        }
    }

    /// Creates a group, supergroup or channel through the account's host; the same
    /// idempotency key gives the first one again.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn create_group(
        &self,
        key: AccountKey,
        title: &str,
        kind: &str,
        about: &str,
        members: &[String],
        idempotency_key: Option<&str>,
    ) -> Result<CreatedGroupView, ChatError> {
        let new = crate::groups::new_group(title, kind, about, members)
            .map_err(ChatError::InvalidArgument)?;
        let idempotency_key =
            crate::groups::idempotency_key(idempotency_key).map_err(ChatError::InvalidArgument)?;
        let member_texts: Vec<String> =
            new.members.iter().map(crate::groups::member_text).collect();
        let mut parts = vec![new.title.as_str(), kind, new.about.as_str()];
        parts.extend(member_texts.iter().map(String::as_str));
        let digest = crate::groups::request_digest(&parts);
        let outcome = self
            .once(
                key,
                idempotency_key.as_deref(),
                "create_group",
                digest,
                || async {
                    let created = self.router.host_of(key)?.create_group(key, new).await?;
                    serde_json::to_string(&CreateGroupOutcome {
                        chat_id: created.chat_id,
                        missing_members: created.missing_members,
                    })
                    .map_err(|error| ChatError::Store(StoreError::Internal(error.to_string())))
                },
            )
            .await?;
        let outcome: CreateGroupOutcome = serde_json::from_str(&outcome).map_err(|error| {
            StoreError::Internal(format!("a kept create_group result: {error}"))
        })?;
        let chat = self
            .reads
            .chat_view(key, outcome.chat_id)
            .await?
            .ok_or(ReadError::ChatNotFound(outcome.chat_id))?;
        Ok(CreatedGroupView {
            chat,
            missing_members: outcome.missing_members,
        })
    }

    /// Adds a user (id, username or phone) to a group, supergroup or channel through
    /// the account's host; returns their id. The same idempotency key gives the first
    /// result again.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn add_member(
        &self,
        key: AccountKey,
        chat_id: i64,
        user: &str,
        idempotency_key: Option<&str>,
    ) -> Result<i64, ChatError> {
        let member = crate::groups::parse_member(user).map_err(ChatError::InvalidArgument)?;
        let idempotency_key =
            crate::groups::idempotency_key(idempotency_key).map_err(ChatError::InvalidArgument)?;
        if chat_id > 0 {
            return Err(ChatError::InvalidArgument(
                "members are added to groups, supergroups and channels, not private chats".into(),
            ));
        }
        self.known_chat(key, chat_id).await?;
        let chat_text = chat_id.to_string();
        let member_text = crate::groups::member_text(&member);
        let digest = crate::groups::request_digest(&[&chat_text, &member_text]);
        let user_id = self
            .once(
                key,
                idempotency_key.as_deref(),
                "add_member",
                digest,
                || async {
                    let user_id = self
                        .router
                        .host_of(key)?
                        .add_member(key, chat_id, member)
                        .await?;
                    Ok::<String, ChatError>(user_id.to_string())
                },
            )
            .await?;
        user_id
            .parse()
            .map_err(|_| ChatError::Store(StoreError::Internal("a kept add_member result".into())))
    }

    /// Replaces the text of a message the account sent, through the account's host;
    /// returns the message as edited.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn edit_message(
        &self,
        key: AccountKey,
        chat_id: i64,
        message_id: i32,
        text: &str,
    ) -> Result<crate::reads::MessageView, ChatError> {
        if message_id < 1 {
            return Err(ChatError::InvalidArgument(
                "message_id must be a message id (1 or more)".into(),
            ));
        }
        if text.trim().is_empty()
            || text.chars().count() > crate::sends::MAX_TEXT_CHARS
            || text.chars().any(crate::sends::forbidden_in_text)
        {
            return Err(ChatError::InvalidArgument(format!(
                "text must be 1 to {} characters without control characters",
                crate::sends::MAX_TEXT_CHARS
            )));
        }
        self.known_chat(key, chat_id).await?;
        self.router
            .host_of(key)?
            .edit_message(key, chat_id, message_id, text.to_owned())
            .await?;
        let edited = self
            .store
            .cached_messages_by_id(key, chat_id, &[message_id])
            .await?
            .first()
            .map(crate::cache::message_from_record)
            .ok_or_else(|| StoreError::Internal("an edited message is not cached".into()))?;
        Ok(self.reads.message_view(key, edited, &[]).await?)
    }

    /// Deletes messages of a chat, for the account only or for everyone, through the
    /// account's host.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn delete_messages(
        &self,
        key: AccountKey,
        chat_id: i64,
        message_ids: &[i32],
        for_everyone: bool,
    ) -> Result<(), ChatError> {
        if message_ids.is_empty()
            || message_ids.len() > MAX_DELETED_AT_ONCE
            || message_ids.iter().any(|id| *id < 1)
        {
            return Err(ChatError::InvalidArgument(format!(
                "message_ids must be 1 to {MAX_DELETED_AT_ONCE} message ids (1 or more)"
            )));
        }
        self.known_chat(key, chat_id).await?;
        Ok(self
            .router
            .host_of(key)?
            .delete_messages(key, chat_id, message_ids.to_vec(), for_everyone)
            .await?)
    }

    /// Pins or unpins (`pin.unpin`) a message of a chat the account knows, through the
    /// account's host; `pin.one_side` only in a private chat. A pin of a pinned message
    /// is no error.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn pin_message(
        &self,
        key: AccountKey,
        chat_id: i64,
        message_id: i32,
        pin: PinOptions,
    ) -> Result<(), ChatError> {
        if message_id < 1 {
            return Err(ChatError::InvalidArgument(
                "message_id must be a message id (1 or more)".into(),
            ));
        }
        // Private chats have the other user's (positive) id.
        if pin.one_side && chat_id <= 0 {
            return Err(ChatError::InvalidArgument(
                "for_me_only is for private chats only".into(),
            ));
        }
        self.known_chat(key, chat_id).await?;
        self.router
            .host_of(key)?
            .pin_message(key, chat_id, message_id, pin)
            .await?;
        self.reads.forget_details(key, chat_id);
        Ok(())
    }

    /// Unpins every pinned message of a chat the account knows, through the account's
    /// host.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn unpin_all_messages(&self, key: AccountKey, chat_id: i64) -> Result<(), ChatError> {
        self.known_chat(key, chat_id).await?;
        self.router
            .host_of(key)?
            .unpin_all_messages(key, chat_id)
            .await?;
        self.reads.forget_details(key, chat_id);
        Ok(())
    }

    /// Forwards messages to another chat the account knows, through the account's host;
    /// returns the copies. The same idempotency key gives the first copies (and the same
    /// `random_id`s, so Telegram makes none again even when the key was taken over).
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn forward_messages(
        &self,
        key: AccountKey,
        from_chat_id: i64,
        message_ids: &[i32],
        to_chat_id: i64,
        silent: bool,
        idempotency_key: Option<&str>,
    ) -> Result<Vec<crate::reads::MessageView>, ChatError> {
        if message_ids.is_empty()
            || message_ids.len() > MAX_DELETED_AT_ONCE
            || message_ids.iter().any(|id| *id < 1)
        {
            return Err(ChatError::InvalidArgument(format!(
                "message_ids must be 1 to {MAX_DELETED_AT_ONCE} message ids (1 or more)"
            )));
        }
        let idempotency_key =
            crate::groups::idempotency_key(idempotency_key).map_err(ChatError::InvalidArgument)?;
        self.known_chat(key, from_chat_id).await?;
        self.known_chat(key, to_chat_id).await?;
        let ids_text: Vec<String> = message_ids.iter().map(ToString::to_string).collect();
        let mut parts = vec![from_chat_id.to_string(), to_chat_id.to_string()];
        parts.extend(ids_text);
        let part_refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let digest = crate::groups::request_digest(&part_refs);
        let random_base = match &idempotency_key {
            Some(idempotency_key) => {
                let seed = crate::groups::request_digest(&[
                    &key.user_id.to_string(),
                    &key.session_index.to_string(),
                    idempotency_key,
                ]);
                i64::from_str_radix(&seed[..15], 16).unwrap_or(1)
            }
            None => {
                i64::from_le_bytes(Uuid::new_v4().as_bytes()[..8].try_into().unwrap_or([1; 8])) >> 8
            }
        };
        let forward = crate::account_host::ForwardRequest {
            from_chat_id,
            message_ids: message_ids.to_vec(),
            to_chat_id,
            random_ids: (0..message_ids.len())
                .map(|index| random_base.wrapping_add(i64::try_from(index).unwrap_or(0)))
                .collect(),
            silent,
        };
        let copies = self
            .once(
                key,
                idempotency_key.as_deref(),
                "forward_messages",
                digest,
                || async {
                    let copies = self
                        .router
                        .host_of(key)?
                        .forward_messages(key, forward)
                        .await?;
                    serde_json::to_string(&copies)
                        .map_err(|error| ChatError::Store(StoreError::Internal(error.to_string())))
                },
            )
            .await?;
        let copies: Vec<i32> = serde_json::from_str(&copies).map_err(|error| {
            StoreError::Internal(format!("a kept forward_messages result: {error}"))
        })?;
        let mut messages: Vec<_> = self
            .store
            .cached_messages_by_id(key, to_chat_id, &copies)
            .await?
            .iter()
            .map(crate::cache::message_from_record)
            .collect();
        messages.sort_by_key(|message| message.id);
        let mut views = Vec::with_capacity(messages.len());
        for message in messages {
            views.push(self.reads.message_view(key, message, &[]).await?);
        }
        Ok(views)
    }

    /// A Telegram user's profile, asked of Telegram through the account's host.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn user_profile(
        &self,
        key: AccountKey,
        telegram_user_id: &str,
    ) -> Result<talkapp_telegram::profiles::UserProfile, ChatError> {
        let user_id = parse_user_id(telegram_user_id)?;
        Ok(self.router.host_of(key)?.user_profile(key, user_id).await?)
    }

    /// Removes a member, leaves, or promotes / demotes an admin in a group, supergroup
    /// or channel, through the account's host; returns the user the change was about.
    /// The same idempotency key gives the first result again.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn change_members(
        &self,
        key: AccountKey,
        chat_id: i64,
        change: MemberChange,
        idempotency_key: Option<&str>,
    ) -> Result<i64, ChatError> {
        let idempotency_key =
            crate::groups::idempotency_key(idempotency_key).map_err(ChatError::InvalidArgument)?;
        if chat_id > 0 {
            return Err(ChatError::InvalidArgument(
                "members change in groups, supergroups and channels, not private chats".into(),
            ));
        }
        self.known_chat(key, chat_id).await?;
        let (action, user_text) = match &change {
            MemberChange::Remove(user) => ("remove_member", crate::groups::member_text(user)),
            MemberChange::Leave => ("leave_chat", String::new()),
            MemberChange::SetAdmin { user, admin: true } => {
                ("promote_admin", crate::groups::member_text(user))
            }
            MemberChange::SetAdmin { user, admin: false } => {
                ("demote_admin", crate::groups::member_text(user))
            }
        };
        let chat_text = chat_id.to_string();
        let digest = crate::groups::request_digest(&[action, &chat_text, &user_text]);
        let user_id = self
            .once(key, idempotency_key.as_deref(), action, digest, || async {
                let user_id = self
                    .router
                    .host_of(key)?
                    .change_members(key, chat_id, change)
                    .await?;
                Ok::<String, ChatError>(user_id.to_string())
            })
            .await?;
        user_id.parse().map_err(|_| {
            ChatError::Store(StoreError::Internal("a kept member change result".into()))
        })
    }

    /// Changes a group's or channel's title and / or description through the account's
    /// host; the chat as listed afterwards (unchanged when it had them already).
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn edit_chat(
        &self,
        key: AccountKey,
        chat_id: i64,
        title: Option<String>,
        about: Option<String>,
    ) -> Result<crate::reads::ChatView, ChatError> {
        let edit = crate::groups::chat_edit(title, about).map_err(ChatError::InvalidArgument)?;
        if chat_id > 0 {
            return Err(ChatError::InvalidArgument(
                "private chats have no title or about to change".into(),
            ));
        }
        self.known_chat(key, chat_id).await?;
        let new_title = edit.title.clone();
        self.router
            .host_of(key)?
            .edit_chat(key, chat_id, edit)
            .await?;
        let mut view = self
            .reads
            .chat_view(key, chat_id)
            .await?
            .ok_or(ReadError::ChatNotFound(chat_id))?;
        // The host cached the new title, but an older update of the account's may still
        // be applied over it (the cache catches up with the title's own update): the
        // answer names the title Telegram accepted.
        if let Some(title) = new_title {
            view.profile.title = title;
        }
        Ok(view)
    }

    /// Downloads (part of) a file of the account, through the account's host.
    pub async fn download_media(
        &self,
        key: AccountKey,
        media_ref: &str,
        range: ByteRange,
    ) -> Result<MediaDownload, ChatError> {
        Ok(self
            .router
            .host_of(key)?
            .download(key, media_ref, range)
            .await?)
    }

    /// Telegram's own message search, through the account's host: what it finds is
    /// stored in the cache and named, newest first, as (chat id, message id).
    pub async fn search_telegram_messages(
        &self,
        key: AccountKey,
        search: &MessageSearch,
    ) -> Result<Vec<(i64, i32)>, ChatError> {
        let invalid = |message: &str| ChatError::InvalidArgument(message.to_owned());
        if search.text.trim().is_empty() {
            return Err(invalid("query must not be empty"));
        }
        if search.text.chars().count() > MAX_SEARCH_CHARS {
            return Err(invalid("query must be at most 256 characters"));
        }
        if !(1..=MAX_SEARCH_LIMIT).contains(&search.limit) {
            return Err(invalid("limit must be between 1 and 100"));
        }
        if let (Some(from), Some(to)) = (search.from_date, search.to_date)
            && from > to
        {
            return Err(invalid("from_date must not be after to_date"));
        }
        if let Some(offset) = search.offset
            && (offset.message_id < 1 || offset.date < 0)
        {
            return Err(invalid(
                "offset needs a positive message_id and a date not before 1970",
            ));
        }
        Ok(self
            .router
            .host_of(key)?
            .search_messages(key, search)
            .await?)
    }

    /// The cached users among `tg_user_ids`, by Telegram user id; one not in the cache is
    /// absent. For answers that name users Telegram just told the account's host about.
    async fn cached_users_by_id(
        &self,
        key: AccountKey,
        tg_user_ids: &[i64],
    ) -> Result<HashMap<i64, talkapp_store::CachedUser>, ChatError> {
        Ok(self
            .store
            .cached_users(key, tg_user_ids)
            .await?
            .into_iter()
            .map(|user| (user.tg_user_id, user))
            .collect())
    }

    /// The account's contacts with their presence, in Telegram's order: the list is asked
    /// of Telegram through the account's host, the users are read from the cache it fills.
    pub async fn contacts(&self, key: AccountKey) -> Result<Vec<Contact>, ChatError> {
        let contacts = self.router.host_of(key)?.contacts(key).await?;
        let ids: Vec<i64> = contacts.iter().map(|contact| contact.user_id).collect();
        let users = self.cached_users_by_id(key, &ids).await?;
        Ok(contacts
            .iter()
            .filter_map(|contact| {
                users.get(&contact.user_id).map(|user| Contact {
                    user: user_from_record(user),
                    mutual: contact.mutual,
                })
            })
            .collect())
    }
}
