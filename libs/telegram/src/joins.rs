//! Joining groups and channels and their invite links, with Telegram's raw calls:
//! `contacts.resolveUsername` then `channels.joinChannel` for a public supergroup or
//! channel, `messages.importChatInvite` for an invite link, `messages.checkChatInvite`
//! for a link's preview and `messages.exportChatInvite` for a new link.
//!
//! A link that needs an admin's approval answers `INVITE_REQUEST_SENT`, an error in
//! Telegram's words but a request made: it is [`JoinOutcome::Requested`] here.
//!
//! Not yet: revoking or editing links (`messages.editExportedChatInvite`), listing them,
//! and approving join requests.

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
        let peer = self.input_peer(chat_id).await?;
        if matches!(
            peer,
            tl::enums::InputPeer::User(_) | tl::enums::InputPeer::PeerSelf
        ) {
            return Err(refused(400, "PEER_ID_INVALID"));
        }
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
        match exported {
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
            }),
            tl::enums::ExportedChatInvite::ChatInvitePublicJoinRequests => Err(
                TelegramError::Internal("an exported link without the link".into()),
            ),
        }
    }
}
