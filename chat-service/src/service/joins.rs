//! Joining a group or channel by username or invite link, an invite link's preview, and
//! exporting a new link, through the account's host. Joining is done once per
//! idempotency key (ADR 0021), under the action name `join_chat`.

use talkapp_store::{SessionKey, StoreError};
use talkapp_telegram::joins::{InviteLink, JoinTarget};

use super::{ChatError, ChatService};
use crate::account_host::InviteCheck;
use crate::reads::{ChatView, ReadError};

/// A chat joined, or a join request sent.
#[derive(Debug, Clone)]
pub struct JoinedView {
    /// The chat as the chat list shows it; `None` when a request to join was sent.
    pub chat: Option<ChatView>,
}

/// What an invite link shows.
#[derive(Debug, Clone)]
pub struct InvitePreviewView {
    /// The account is a member: its chat id (and the chat, when cached).
    pub member_of: Option<(i64, Option<ChatView>)>,
    /// The chat's title.
    pub title: String,
    /// Its description.
    pub about: String,
    /// `group`, `supergroup` or `channel`.
    pub kind: String,
    /// How many members it has.
    pub members_count: Option<i32>,
    /// Joining needs an admin's approval.
    pub request_needed: bool,
    /// The chat has a username.
    pub public: bool,
}

/// What a finished `join_chat` keeps for its retries.
#[derive(serde::Serialize, serde::Deserialize)]
struct JoinOutcomeKept {
    /// `None`: a join request was sent.
    chat_id: Option<i64>,
}

impl ChatService {
    /// Joins a public supergroup or channel by `username`, or a chat by `invite_link`
    /// (exactly one), through the account's host; the same idempotency key gives the
    /// first result again (the chat read fresh from the cache).
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn join_chat(
        &self,
        key: SessionKey,
        username: Option<&str>,
        invite_link: Option<&str>,
        idempotency_key: &str,
    ) -> Result<JoinedView, ChatError> {
        let target =
            crate::joins::join_target(username, invite_link).map_err(ChatError::InvalidArgument)?;
        let idempotency_key =
            crate::groups::idempotency_key(idempotency_key).map_err(ChatError::InvalidArgument)?;
        let digest = match &target {
            // Usernames are case-insensitive, invite hashes are not.
            JoinTarget::Username(name) => {
                crate::groups::request_digest(&["username", &name.to_ascii_lowercase()])
            }
            JoinTarget::InviteHash(hash) => crate::groups::request_digest(&["invite", hash]),
        };
        let kept = self
            .once(
                key,
                idempotency_key.as_deref(),
                "join_chat",
                digest,
                || async {
                    let chat_id = self.router.host_of(key)?.join_chat(key, target).await?;
                    serde_json::to_string(&JoinOutcomeKept { chat_id })
                        .map_err(|error| ChatError::Store(StoreError::Internal(error.to_string())))
                },
            )
            .await?;
        let kept: JoinOutcomeKept = serde_json::from_str(&kept)
            .map_err(|error| StoreError::Internal(format!("a kept join_chat result: {error}")))?;
        let Some(chat_id) = kept.chat_id else {
            return Ok(JoinedView { chat: None });
        };
        let chat = self
            .reads
            .chat_view(key, chat_id)
            .await?
            .ok_or(ReadError::ChatNotFound(chat_id))?;
        Ok(JoinedView { chat: Some(chat) })
    }

    /// What an invite link shows: a preview, or the chat when the account is in it.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn check_invite(
        &self,
        key: SessionKey,
        invite_link: &str,
    ) -> Result<InvitePreviewView, ChatError> {
        let hash = crate::joins::invite_hash(invite_link).map_err(ChatError::InvalidArgument)?;
        match self.router.host_of(key)?.check_invite(key, &hash).await? {
            InviteCheck::Member(chat_id) => {
                let chat = self.reads.chat_view(key, chat_id).await?;
                let (title, kind, members_count) = chat.as_ref().map_or_else(
                    || (String::new(), String::new(), None),
                    |chat| {
                        (
                            chat.profile.title.clone(),
                            chat.profile.kind.clone(),
                            chat.profile.members_count,
                        )
                    },
                );
                let public = chat
                    .as_ref()
                    .is_some_and(|chat| !chat.profile.username.is_empty());
                Ok(InvitePreviewView {
                    member_of: Some((chat_id, chat)),
                    title,
                    about: String::new(),
                    kind,
                    members_count,
                    request_needed: false,
                    public,
                })
            }
            InviteCheck::Preview {
                title,
                about,
                kind,
                members_count,
                request_needed,
                public,
            } => Ok(InvitePreviewView {
                member_of: None,
                title,
                about,
                kind,
                members_count: Some(members_count),
                request_needed,
                public,
            }),
        }
    }

    /// A new invite link to a group, supergroup or channel the account administers.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn export_invite(
        &self,
        key: SessionKey,
        chat_id: i64,
        expire_date: Option<i64>,
        usage_limit: Option<i32>,
        title: Option<String>,
        request_needed: bool,
    ) -> Result<InviteLink, ChatError> {
        let settings = crate::joins::invite_settings(
            expire_date,
            usage_limit,
            title,
            request_needed,
            chrono::Utc::now().timestamp(),
        )
        .map_err(ChatError::InvalidArgument)?;
        if chat_id > 0 {
            return Err(ChatError::InvalidArgument(
                "invite links are for groups, supergroups and channels, not private chats".into(),
            ));
        }
        self.known_chat(key, chat_id).await?;
        Ok(self
            .router
            .host_of(key)?
            .export_invite(key, chat_id, settings)
            .await?)
    }
}
