//! Joining groups and channels and their invite links, with Telegram's raw calls:
//! `contacts.resolveUsername` then `channels.joinChannel` for a public supergroup or
//! channel, `messages.importChatInvite` for an invite link, `messages.checkChatInvite`
//! for a link's preview and `messages.exportChatInvite` for a new link; an admin's
//! links listed (`messages.getExportedChatInvites`), revoked or changed
//! (`messages.editExportedChatInvite`); pending requests to join listed
//! (`messages.getChatInviteImporters` with `requested`) and approved or declined
//! (`messages.hideChatJoinRequest`).
//!
//! A link that needs an admin's approval answers `INVITE_REQUEST_SENT`, an error in
//! Telegram's words but a request made: it is [`JoinOutcome::Requested`] here.
//!
//! Not yet: deleting revoked links, other admins' links, who joined through a link.

use grammers_client::tl;

use crate::account::Account;
use crate::convert;
use crate::error::TelegramError;
use crate::model::{ChatId, ChatInfo, ChatKind};

/// What to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinTarget {
    /// A public supergroup or channel by its username (without `@`).
    Username(String),
    /// A chat by the hash of an invite link (`t.me/+HASH`).
    InviteHash(String),
}

/// What joining did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The account is a member now.
    Joined(ChatInfo),
    /// The link needs an admin's approval: the request is with the chat's admins.
    Requested,
}

/// A preview of the chat of an invite link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitePreview {
    /// The account is a member already: the chat.
    Member(ChatInfo),
    /// Not a member: what the link shows.
    Invite {
        /// The chat's title.
        title: String,
        /// Its description.
        about: String,
        /// Basic group, supergroup or channel.
        kind: ChatKind,
        /// How many members it has.
        members_count: i32,
        /// Joining needs an admin's approval.
        request_needed: bool,
        /// The chat is public (has a username).
        public: bool,
    },
}

/// A link to export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InviteSettings {
    /// When it stops working (Unix seconds).
    pub expire_date: Option<i32>,
    /// How many may join through it.
    pub usage_limit: Option<i32>,
    /// A name for it, for the admins.
    pub title: Option<String>,
    /// Joining through it needs an admin's approval.
    pub request_needed: bool,
}

/// An exported invite link.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InviteLink {
    /// `https://t.me/+HASH`.
    pub link: String,
    /// Who made it (a Telegram user id).
    pub admin_id: i64,
    /// When (Unix seconds).
    pub date: i32,
    /// When it stops working.
    pub expire_date: Option<i32>,
    /// How many may join through it.
    pub usage_limit: Option<i32>,
    /// How many joined through it.
    pub usage: i32,
    /// Its name.
    pub title: Option<String>,
    /// Joining needs an admin's approval.
    pub request_needed: bool,
    /// Revoked.
    pub revoked: bool,
    /// The chat's permanent link.
    pub permanent: bool,
    /// How many requests to join through it wait for an admin.
    #[serde(default)]
    pub requested: i32,
}

/// Which of the account's links to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InviteQuery {
    /// Revoked links (else the working ones).
    pub revoked: bool,
    /// After the link of this date ...
    pub offset_date: Option<i32>,
    /// ... and this hash (both or neither).
    pub offset_hash: Option<String>,
    /// At most this many (1 to 100).
    pub limit: i32,
}

/// A page of links, and how many there are in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvitePage {
    /// How many links the query has in all.
    pub count: i32,
    /// This page's.
    pub links: Vec<InviteLink>,
}

/// A change to a link: revoking it, or its settings (`None` leaves one as it is; an
/// `expire_date` or `usage_limit` of 0 removes it, an empty title too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InviteEdit {
    /// The link's hash.
    pub hash: String,
    /// Revoke it (nothing else changes then).
    pub revoke: bool,
    /// When it stops working (Unix seconds; 0: never).
    pub expire_date: Option<i32>,
    /// How many may join through it (0: no limit).
    pub usage_limit: Option<i32>,
    /// Its name.
    pub title: Option<String>,
    /// Joining needs an admin's approval.
    pub request_needed: Option<bool>,
}

/// Which pending requests to list, newest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinRequestQuery {
    /// After the request of this date ...
    pub offset_date: Option<i32>,
    /// ... by this user (both or neither).
    pub offset_user: Option<i64>,
    /// At most this many (1 to 100).
    pub limit: i32,
}

/// A pending request to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// Who asked (a Telegram user id).
    pub user_id: i64,
    /// When (Unix seconds).
    pub date: i32,
    /// What they wrote, if anything.
    pub about: String,
    /// Their first name.
    pub first_name: String,
    /// Their last name.
    pub last_name: String,
    /// Their username, without `@`.
    pub username: String,
}

/// A page of pending requests, and how many there are in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinRequestPage {
    /// How many requests wait in all.
    pub count: i32,
    /// This page's.
    pub requests: Vec<JoinRequest>,
}

fn invite_link(invite: tl::enums::ExportedChatInvite) -> Result<InviteLink, TelegramError> {
    match invite {
        tl::enums::ExportedChatInvite::ChatInviteExported(invite) => Ok(InviteLink {
            link: invite.link,
            admin_id: invite.admin_id,
            date: invite.date,
            expire_date: invite.expire_date,
            usage_limit: invite.usage_limit,
            usage: invite.usage.unwrap_or(0),
            title: invite.title,
            request_needed: invite.request_needed,
            revoked: invite.revoked,
            permanent: invite.permanent,
            requested: invite.requested.unwrap_or(0),
        }),
        tl::enums::ExportedChatInvite::ChatInvitePublicJoinRequests => Err(
            TelegramError::Internal("an exported link without the link".into()),
        ),
    }
}

fn refused(code: i32, name: &str) -> TelegramError {
    TelegramError::Refused {
        code,
        name: name.to_owned(),
    }
}

fn updates_chats(updates: &tl::enums::Updates) -> (&[tl::enums::User], &[tl::enums::Chat]) {
    match updates {
        tl::enums::Updates::Updates(all) => (&all.users, &all.chats),
        tl::enums::Updates::Combined(all) => (&all.users, &all.chats),
        _ => (&[], &[]),
    }
}

impl Account {
    /// Joins a public supergroup or channel by username, or a chat by invite link.
    /// `USERNAME_NOT_OCCUPIED` for nobody, `CHANNEL_INVALID` for a username of a user,
    /// `USER_ALREADY_PARTICIPANT` for a member, `INVITE_HASH_EXPIRED` /
    /// `INVITE_HASH_INVALID` for links that do not (or no longer) work.
    pub async fn join_chat(&self, target: &JoinTarget) -> Result<JoinOutcome, TelegramError> {
        let answer = match target {
            JoinTarget::Username(username) => {
                let tl::enums::contacts::ResolvedPeer::Peer(resolved) = self
                    .call(&tl::functions::contacts::ResolveUsername {
                        username: username.trim_start_matches('@').to_owned(),
                        referer: None,
                    })
                    .await?;
                self.remember(&resolved.users, &resolved.chats).await;
                let tl::enums::Peer::Channel(peer) = resolved.peer else {
                    // A user's (or a bot's) username: nothing to join.
                    return Err(refused(400, "CHANNEL_INVALID"));
                };
                let access_hash = resolved
                    .chats
                    .iter()
                    .find_map(|chat| match chat {
                        tl::enums::Chat::Channel(channel) if channel.id == peer.channel_id => {
                            channel.access_hash
                        }
                        _ => None,
                    })
                    .ok_or_else(|| refused(400, "CHANNEL_INVALID"))?;
                self.call(&tl::functions::channels::JoinChannel {
                    channel: tl::types::InputChannel {
                        channel_id: peer.channel_id,
                        access_hash,
                    }
                    .into(),
                })
                .await
            }
            JoinTarget::InviteHash(hash) => {
                self.call(&tl::functions::messages::ImportChatInvite { hash: hash.clone() })
                    .await
            }
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(TelegramError::Refused { name, .. }) if name == "INVITE_REQUEST_SENT" => {
                return Ok(JoinOutcome::Requested);
            }
            Err(error) => return Err(error),
        };
        let tl::enums::messages::ChatInviteJoinResult::Ok(joined) = answer else {
            // A bot's web view to pay a subscription: not served.
            return Err(refused(400, "INVITE_HASH_INVALID"));
        };
        let (users, chats) = updates_chats(&joined.updates);
        self.remember(users, chats).await;
        let chat = chats
            .iter()
            .filter_map(convert::chat)
            .find(|chat| !chat.has_left)
            .ok_or_else(|| TelegramError::Internal("joined, but the chat was not named".into()))?;
        Ok(JoinOutcome::Joined(chat))
    }

    /// What an invite link shows (`messages.checkChatInvite`).
    pub async fn check_invite(&self, hash: &str) -> Result<InvitePreview, TelegramError> {
        let invite = self
            .call(&tl::functions::messages::CheckChatInvite {
                hash: hash.to_owned(),
            })
            .await?;
        match invite {
            tl::enums::ChatInvite::Already(already) => {
                self.remember(&[], std::slice::from_ref(&already.chat))
                    .await;
                convert::chat(&already.chat)
                    .map(InvitePreview::Member)
                    .ok_or_else(|| TelegramError::Internal("an invite to no chat".into()))
            }
            tl::enums::ChatInvite::Peek(peek) => {
                // The account may look into the chat before joining (a link with join
                // requests): a preview of it.
                self.remember(&[], std::slice::from_ref(&peek.chat)).await;
                let chat = convert::chat(&peek.chat)
                    .ok_or_else(|| TelegramError::Internal("an invite to no chat".into()))?;
                Ok(InvitePreview::Invite {
                    title: chat.title,
                    about: String::new(),
                    kind: chat.kind,
                    members_count: chat.members_count.unwrap_or(0),
                    request_needed: true,
                    public: !chat.username.is_empty(),
                })
            }
            tl::enums::ChatInvite::Invite(invite) => Ok(InvitePreview::Invite {
                kind: match (invite.channel, invite.broadcast) {
                    (false, _) => ChatKind::Group,
                    (true, false) => ChatKind::Supergroup,
                    (true, true) => ChatKind::Channel,
                },
                title: invite.title,
                about: invite.about.unwrap_or_default(),
                members_count: invite.participants_count,
                request_needed: invite.request_needed,
                public: invite.public,
            }),
        }
    }

    /// A new invite link to a chat the account administers (`messages.exportChatInvite`);
    /// `CHAT_ADMIN_REQUIRED` otherwise.
    pub async fn export_invite(
        &self,
        chat_id: ChatId,
        settings: &InviteSettings,
    ) -> Result<InviteLink, TelegramError> {
        let peer = self.group_peer(chat_id).await?;
        let exported = self
            .call(&tl::functions::messages::ExportChatInvite {
                legacy_revoke_permanent: false,
                request_needed: settings.request_needed,
                peer,
                expire_date: settings.expire_date,
                usage_limit: settings.usage_limit,
                title: settings.title.clone(),
                subscription_pricing: None,
            })
            .await?;
        invite_link(exported)
    }

    /// The peer of a group, supergroup or channel; `PEER_ID_INVALID` for a private chat.
    async fn group_peer(&self, chat_id: ChatId) -> Result<tl::enums::InputPeer, TelegramError> {
        let peer = self.input_peer(chat_id).await?;
        if matches!(
            peer,
            tl::enums::InputPeer::User(_) | tl::enums::InputPeer::PeerSelf
        ) {
            return Err(refused(400, "PEER_ID_INVALID"));
        }
        Ok(peer)
    }

    /// How to address a user this account has met; `USER_ID_INVALID` otherwise.
    async fn input_user(&self, user_id: i64) -> Result<tl::enums::InputUser, TelegramError> {
        match self.input_peer(convert::user_chat_id(user_id)).await {
            Ok(tl::enums::InputPeer::User(peer)) => Ok(tl::types::InputUser {
                user_id: peer.user_id,
                access_hash: peer.access_hash,
            }
            .into()),
            Ok(_) | Err(TelegramError::UnknownChat(_)) => Err(refused(400, "USER_ID_INVALID")),
            Err(error) => Err(error),
        }
    }

    /// The links this account made to a chat it administers
    /// (`messages.getExportedChatInvites`), newest first; `CHAT_ADMIN_REQUIRED` otherwise.
    pub async fn list_invites(
        &self,
        chat_id: ChatId,
        query: &InviteQuery,
    ) -> Result<InvitePage, TelegramError> {
        let peer = self.group_peer(chat_id).await?;
        let (offset_date, offset_link) = match (query.offset_date, &query.offset_hash) {
            (Some(date), Some(hash)) => (Some(date), Some(format!("https://t.me/+{hash}"))),
            _ => (None, None),
        };
        let tl::enums::messages::ExportedChatInvites::Invites(page) = self
            .call(&tl::functions::messages::GetExportedChatInvites {
                revoked: query.revoked,
                peer,
                admin_id: tl::enums::InputUser::UserSelf,
                offset_date,
                offset_link,
                limit: query.limit,
            })
            .await?;
        self.remember(&page.users, &[]).await;
        Ok(InvitePage {
            count: page.count,
            links: page
                .invites
                .into_iter()
                .map(invite_link)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Revokes a link or changes its settings (`messages.editExportedChatInvite`); the
    /// link as it is afterwards. `INVITE_HASH_INVALID` for a link the chat does not
    /// have, `INVITE_REVOKED_MISSING` for one revoked already.
    pub async fn edit_invite(
        &self,
        chat_id: ChatId,
        edit: &InviteEdit,
    ) -> Result<InviteLink, TelegramError> {
        let peer = self.group_peer(chat_id).await?;
        let answer = self
            .call(&tl::functions::messages::EditExportedChatInvite {
                revoked: edit.revoke,
                peer,
                link: format!("https://t.me/+{}", edit.hash),
                expire_date: edit.expire_date,
                usage_limit: edit.usage_limit,
                request_needed: edit.request_needed,
                title: edit.title.clone(),
            })
            .await?;
        let (invite, users) = match answer {
            tl::enums::messages::ExportedChatInvite::Invite(answer) => {
                (answer.invite, answer.users)
            }
            // Revoking a chat's permanent link makes a new one; the old one is the answer.
            tl::enums::messages::ExportedChatInvite::Replaced(answer) => {
                (answer.invite, answer.users)
            }
        };
        self.remember(&users, &[]).await;
        invite_link(invite)
    }

    /// The pending requests to join a chat this account administers
    /// (`messages.getChatInviteImporters` with `requested`), newest first.
    pub async fn join_requests(
        &self,
        chat_id: ChatId,
        query: JoinRequestQuery,
    ) -> Result<JoinRequestPage, TelegramError> {
        let peer = self.group_peer(chat_id).await?;
        let (offset_date, offset_user) = match (query.offset_date, query.offset_user) {
            (Some(date), Some(user)) => (date, self.input_user(user).await?),
            _ => (0, tl::enums::InputUser::Empty),
        };
        let tl::enums::messages::ChatInviteImporters::Importers(page) = self
            .call(&tl::functions::messages::GetChatInviteImporters {
                requested: true,
                subscription_expired: false,
                peer,
                link: None,
                q: None,
                offset_date,
                offset_user,
                limit: query.limit,
            })
            .await?;
        self.remember(&page.users, &[]).await;
        let users: Vec<_> = page.users.iter().filter_map(convert::user).collect();
        let requests = page
            .importers
            .into_iter()
            .map(|tl::enums::ChatInviteImporter::Importer(importer)| {
                let user = users.iter().find(|user| user.id == importer.user_id);
                JoinRequest {
                    user_id: importer.user_id,
                    date: importer.date,
                    about: importer.about.unwrap_or_default(),
                    first_name: user.map(|u| u.first_name.clone()).unwrap_or_default(),
                    last_name: user.map(|u| u.last_name.clone()).unwrap_or_default(),
                    username: user.map(|u| u.username.clone()).unwrap_or_default(),
                }
            })
            .collect();
        Ok(JoinRequestPage {
            count: page.count,
            requests,
        })
    }

    /// Approves (the user joins) or declines a pending request to join
    /// (`messages.hideChatJoinRequest`); `HIDE_REQUESTER_MISSING` when there is none.
    pub async fn answer_join_request(
        &self,
        chat_id: ChatId,
        user_id: i64,
        approve: bool,
    ) -> Result<(), TelegramError> {
        let peer = self.group_peer(chat_id).await?;
        let user = self.input_user(user_id).await?;
        let updates = self
            .call(&tl::functions::messages::HideChatJoinRequest {
                approved: approve,
                peer,
                user_id: user,
            })
            .await?;
        let (users, chats) = updates_chats(&updates);
        self.remember(users, chats).await;
        Ok(())
    }
}
