//! Joining a group or channel by username or invite link, an invite link's preview,
//! exporting a new link, listing, revoking and editing the account's links, and listing
//! and answering requests to join, through the account's host. Joining, changing a link
//! and answering a request are done once per idempotency key (ADR 0021), under the
//! action names `join_chat`, `edit_invite` and `answer_join_request`.

use talkapp_store::{AccountKey, StoreError};
use talkapp_telegram::joins::{
    InviteLink, InvitePage, InviteQuery, JoinRequestPage, JoinRequestQuery, JoinTarget,
};

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

/// A change to a link, as asked.
#[derive(Debug, Clone, Default)]
pub struct InviteChange {
    /// The link, in any spelling `join_chat` takes.
    pub invite_link: String,
    /// Revoke it.
    pub revoke: bool,
    /// Unix seconds in the future; 0: never expires.
    pub expire_date: Option<i64>,
    /// 1 to 99999; 0: no limit.
    pub usage_limit: Option<i32>,
    /// Up to 32 characters; empty: none.
    pub title: Option<String>,
    /// Joining needs an admin's approval.
    pub request_needed: Option<bool>,
}

/// What a finished `answer_join_request` keeps for its retries.
#[derive(serde::Serialize, serde::Deserialize)]
struct AnsweredKept {
    user_id: i64,
    approved: bool,
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
        key: AccountKey,
        username: Option<&str>,
        invite_link: Option<&str>,
        idempotency_key: Option<&str>,
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
        key: AccountKey,
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
        key: AccountKey,
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
        self.invite_chat(key, chat_id).await?;
        Ok(self
            .router
            .host_of(key)?
            .export_invite(key, chat_id, settings)
            .await?)
    }

    /// A group, supergroup or channel the account knows; 422 for a private chat.
    async fn invite_chat(&self, key: AccountKey, chat_id: i64) -> Result<(), ChatError> {
        if chat_id > 0 {
            return Err(ChatError::InvalidArgument(
                "invite links are for groups, supergroups and channels, not private chats".into(),
            ));
        }
        self.known_chat(key, chat_id).await
    }

    /// The links the account made to a chat it administers, newest first (revoked ones
    /// or the others), and the cursor of the next page when there may be one.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn list_invites(
        &self,
        key: AccountKey,
        chat_id: i64,
        revoked: bool,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(InvitePage, Option<String>), ChatError> {
        let limit = crate::joins::page_limit(limit).map_err(ChatError::InvalidArgument)?;
        let offset = cursor
            .map(crate::joins::invite_cursor)
            .transpose()
            .map_err(ChatError::InvalidArgument)?;
        self.invite_chat(key, chat_id).await?;
        let (offset_date, offset_hash) = offset.unzip();
        let query = InviteQuery {
            revoked,
            offset_date,
            offset_hash,
            limit,
        };
        let page = self
            .router
            .host_of(key)?
            .list_invites(key, chat_id, query)
            .await?;
        let next = page
            .links
            .last()
            .filter(|_| page.links.len() == usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|last| crate::joins::invite_cursor_after(last.date, &last.link));
        Ok((page, next))
    }

    /// Revokes a link or changes its settings; the link afterwards. The same
    /// idempotency key gives the first answer again.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn edit_invite(
        &self,
        key: AccountKey,
        chat_id: i64,
        change: InviteChange,
        idempotency_key: Option<&str>,
    ) -> Result<InviteLink, ChatError> {
        let edit = crate::joins::invite_edit(
            &change.invite_link,
            change.revoke,
            change.expire_date,
            change.usage_limit,
            change.title,
            change.request_needed,
            chrono::Utc::now().timestamp(),
        )
        .map_err(ChatError::InvalidArgument)?;
        let idempotency_key =
            crate::groups::idempotency_key(idempotency_key).map_err(ChatError::InvalidArgument)?;
        self.invite_chat(key, chat_id).await?;
        let optional = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
        let digest = crate::groups::request_digest(&[
            &chat_id.to_string(),
            &edit.hash,
            &edit.revoke.to_string(),
            &optional(edit.expire_date.map(|v| v.to_string())),
            &optional(edit.usage_limit.map(|v| v.to_string())),
            &optional(edit.title.clone()),
            &optional(edit.request_needed.map(|v| v.to_string())),
        ]);
        let kept = self
            .once(
                key,
                idempotency_key.as_deref(),
                "edit_invite",
                digest,
                || async {
                    let link = self
                        .router
                        .host_of(key)?
                        .edit_invite(key, chat_id, edit)
                        .await?;
                    serde_json::to_string(&link)
                        .map_err(|error| ChatError::Store(StoreError::Internal(error.to_string())))
                },
            )
            .await?;
        Ok(serde_json::from_str(&kept)
            .map_err(|error| StoreError::Internal(format!("a kept edit_invite result: {error}")))?)
    }

    /// The pending requests to join a chat the account administers, newest first, and
    /// the cursor of the next page when there may be one.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn join_requests(
        &self,
        key: AccountKey,
        chat_id: i64,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(JoinRequestPage, Option<String>), ChatError> {
        let limit = crate::joins::page_limit(limit).map_err(ChatError::InvalidArgument)?;
        let offset = cursor
            .map(crate::joins::request_cursor)
            .transpose()
            .map_err(ChatError::InvalidArgument)?;
        self.invite_chat(key, chat_id).await?;
        let (offset_date, offset_user) = offset.unzip();
        let query = JoinRequestQuery {
            offset_date,
            offset_user,
            limit,
        };
        let page = self
            .router
            .host_of(key)?
            .join_requests(key, chat_id, query)
            .await?;
        let next = page
            .requests
            .last()
            .filter(|_| page.requests.len() == usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|last| format!("{}:{}", last.date, last.user_id));
        Ok((page, next))
    }

    /// Approves (the user joins) or declines a request to join; the requester's id and
    /// whether they were let in. The same idempotency key gives the first answer again.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn answer_join_request(
        &self,
        key: AccountKey,
        chat_id: i64,
        user: &str,
        approve: bool,
        idempotency_key: Option<&str>,
    ) -> Result<(i64, bool), ChatError> {
        let user_id = crate::joins::requester(user).map_err(ChatError::InvalidArgument)?;
        let idempotency_key =
            crate::groups::idempotency_key(idempotency_key).map_err(ChatError::InvalidArgument)?;
        self.invite_chat(key, chat_id).await?;
        let digest = crate::groups::request_digest(&[
            &chat_id.to_string(),
            &user_id.to_string(),
            &approve.to_string(),
        ]);
        let kept = self
            .once(
                key,
                idempotency_key.as_deref(),
                "answer_join_request",
                digest,
                || async {
                    self.router
                        .host_of(key)?
                        .answer_join_request(key, chat_id, user_id, approve)
                        .await?;
                    serde_json::to_string(&AnsweredKept {
                        user_id,
                        approved: approve,
                    })
                    .map_err(|error| ChatError::Store(StoreError::Internal(error.to_string())))
                },
            )
            .await?;
        let kept: AnsweredKept = serde_json::from_str(&kept).map_err(|error| {
            StoreError::Internal(format!("a kept answer_join_request result: {error}"))
        })?;
        Ok((kept.user_id, kept.approved))
    }
}
