//! Creating groups and channels and adding members, with Telegram's raw calls
//! (`messages.createChat`, `channels.createChannel`, `messages.addChatUser`,
//! `channels.inviteToChannel`), and naming users by id, username or phone number
//! (`contacts.resolveUsername`, `contacts.resolvePhone`).
//!
//! Users whose privacy keeps them out are reported the way Telegram reports them since
//! layer 166: in `missing_invitees` when several are added (a new group is made without
//! them), and as `USER_PRIVACY_RESTRICTED` when the one user asked for cannot be added.
//!
//! Not yet: a basic group's description (`messages.editChatAbout`) at creation.

use grammers_client::tl;

use crate::account::{Account, dialog_infos};
use crate::convert;
use crate::error::TelegramError;
use crate::model::{ChatId, ChatInfo, DialogsPage, TgUser};

/// What kind of chat to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// A basic group (`messages.createChat`; needs at least one member).
    Group,
    /// A supergroup (`channels.createChannel` with `megagroup`).
    Supergroup,
    /// A broadcast channel (`channels.createChannel` with `broadcast`).
    Channel,
}

/// A Telegram user as a caller names them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserRef {
    /// By id: a user this account has met (its session knows the access hash).
    Id(i64),
    /// By public username, without `@`.
    Username(String),
    /// By phone number (found when the user's privacy allows it).
    Phone(String),
}

/// A group or channel to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    /// Its title.
    pub title: String,
    /// Its description (supergroups and channels).
    pub about: String,
    /// Its kind.
    pub kind: GroupKind,
    /// Who to add.
    pub members: Vec<UserRef>,
}

/// A group or channel just created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedGroup {
    /// The chat.
    pub chat: ChatInfo,
    /// Members their privacy kept out (Telegram's `missing_invitees`).
    pub missing_members: Vec<i64>,
}

/// A refusal as Telegram words it.
fn refused(code: i32, name: &str) -> TelegramError {
    TelegramError::Refused {
        code,
        name: name.to_owned(),
    }
}

/// The users and chats an `Updates` carries.
fn updates_parts(updates: &tl::enums::Updates) -> (&[tl::enums::User], &[tl::enums::Chat]) {
    match updates {
        tl::enums::Updates::Updates(all) => (&all.users, &all.chats),
        tl::enums::Updates::Combined(all) => (&all.users, &all.chats),
        _ => (&[], &[]),
    }
}

fn missing_of(invited: &tl::types::messages::InvitedUsers) -> Vec<i64> {
    invited
        .missing_invitees
        .iter()
        .map(|tl::enums::MissingInvitee::Invitee(missing)| missing.user_id)
        .collect()
}

fn input_channel(channel_id: i64, access_hash: i64) -> tl::enums::InputChannel {
    tl::types::InputChannel {
        channel_id,
        access_hash,
    }
    .into()
}

impl Account {
    /// How to address the user `user` names: `USER_ID_INVALID` for an id this account
    /// never met, `USERNAME_NOT_OCCUPIED` / `PHONE_NOT_OCCUPIED` for nobody.
    pub async fn resolve_user(
        &self,
        user: &UserRef,
    ) -> Result<(i64, tl::enums::InputUser), TelegramError> {
        let resolved = match user {
            UserRef::Id(id) => {
                return match self.input_peer(convert::user_chat_id(*id)).await {
                    Ok(tl::enums::InputPeer::User(peer)) => Ok((
                        peer.user_id,
                        tl::types::InputUser {
                            user_id: peer.user_id,
                            access_hash: peer.access_hash,
                        }
                        .into(),
                    )),
                    Ok(_) | Err(TelegramError::UnknownChat(_)) => {
                        Err(refused(400, "USER_ID_INVALID"))
                    }
                    Err(error) => Err(error),
                };
            }
            UserRef::Username(username) => {
                self.call(&tl::functions::contacts::ResolveUsername {
                    username: username.trim_start_matches('@').to_owned(),
                    referer: None,
                })
                .await?
            }
            UserRef::Phone(phone) => {
                self.call(&tl::functions::contacts::ResolvePhone {
                    phone: phone.clone(),
                })
                .await?
            }
        };
        let tl::enums::contacts::ResolvedPeer::Peer(resolved) = resolved;
        self.remember(&resolved.users, &resolved.chats).await;
        let tl::enums::Peer::User(peer) = resolved.peer else {
            // A username of a channel or group: not a user to add.
            return Err(refused(400, "USER_ID_INVALID"));
        };
        resolved
            .users
            .iter()
            .find_map(|user| match user {
                tl::enums::User::User(user) if user.id == peer.user_id => {
                    Some((user.id, user.access_hash))
                }
                _ => None,
            })
            .map(|(user_id, access_hash)| {
                (
                    user_id,
                    tl::types::InputUser {
                        user_id,
                        access_hash: access_hash.unwrap_or(0),
                    }
                    .into(),
                )
            })
            .ok_or_else(|| TelegramError::Internal("a resolved user came without the user".into()))
    }

    /// Creates a group or channel and adds `new.members` (resolved first: an unknown
    /// member fails the call before anything is created). A supergroup's or channel's
    /// members are invited after it exists; when that fails for another reason than
    /// privacy the channel stays, without them, and the error is returned.
    pub async fn create_group(&self, new: &NewGroup) -> Result<CreatedGroup, TelegramError> {
        let mut members = Vec::with_capacity(new.members.len());
        for member in &new.members {
            let (user_id, input) = self.resolve_user(member).await?;
            if !members.iter().any(|(id, _)| *id == user_id) {
                members.push((user_id, input));
            }
        }
        let inputs: Vec<tl::enums::InputUser> =
            members.iter().map(|(_, input)| input.clone()).collect();
        match new.kind {
            GroupKind::Group => {
                let tl::enums::messages::InvitedUsers::Users(invited) = self
                    .call(&tl::functions::messages::CreateChat {
                        users: inputs,
                        title: new.title.clone(),
                        ttl_period: None,
                    })
                    .await?;
                let (users, chats) = updates_parts(&invited.updates);
                self.remember(users, chats).await;
                let chat = chats
                    .iter()
                    .find(|chat| matches!(chat, tl::enums::Chat::Chat(_)))
                    .and_then(convert::chat)
                    .ok_or_else(|| {
                        TelegramError::Internal("messages.createChat answered without it".into())
                    })?;
                Ok(CreatedGroup {
                    chat,
                    missing_members: missing_of(&invited),
                })
            }
            GroupKind::Supergroup | GroupKind::Channel => {
                let updates = self
                    .call(&tl::functions::channels::CreateChannel {
                        broadcast: new.kind == GroupKind::Channel,
                        megagroup: new.kind == GroupKind::Supergroup,
                        for_import: false,
                        forum: false,
                        title: new.title.clone(),
                        about: new.about.clone(),
                        geo_point: None,
                        address: None,
                        ttl_period: None,
                    })
                    .await?;
                let (users, chats) = updates_parts(&updates);
                self.remember(users, chats).await;
                let (channel_id, access_hash) = chats
                    .iter()
                    .find_map(|chat| match chat {
                        tl::enums::Chat::Channel(channel) => {
                            Some((channel.id, channel.access_hash.unwrap_or(0)))
                        }
                        _ => None,
                    })
                    .ok_or_else(|| {
                        TelegramError::Internal("channels.createChannel answered without it".into())
                    })?;
                let mut missing_members = Vec::new();
                let mut latest_chats = chats.to_vec();
                if !inputs.is_empty() {
                    match self
                        .call(&tl::functions::channels::InviteToChannel {
                            channel: input_channel(channel_id, access_hash),
                            users: inputs,
                        })
                        .await
                    {
                        Ok(tl::enums::messages::InvitedUsers::Users(invited)) => {
                            let (users, chats) = updates_parts(&invited.updates);
                            self.remember(users, chats).await;
                            if !chats.is_empty() {
                                latest_chats = chats.to_vec();
                            }
                            missing_members = missing_of(&invited);
                        }
                        Err(TelegramError::Refused { name, .. })
                            if name == "USER_PRIVACY_RESTRICTED" =>
                        {
                            missing_members = members.iter().map(|(id, _)| *id).collect();
                        }
                        Err(error) => return Err(error),
                    }
                }
                let chat = latest_chats
                    .iter()
                    .filter(
                        |chat| matches!(chat, tl::enums::Chat::Channel(c) if c.id == channel_id),
                    )
                    .find_map(convert::chat)
                    .ok_or_else(|| {
                        TelegramError::Internal("the new channel went missing".into())
                    })?;
                Ok(CreatedGroup {
                    chat,
                    missing_members,
                })
            }
        }
    }

    /// Adds `user` to a group, supergroup or channel; returns their user id.
    /// `USER_PRIVACY_RESTRICTED` (403) when their privacy keeps them out,
    /// `USER_ALREADY_PARTICIPANT` when they are in, `PEER_ID_INVALID` for a private chat.
    pub async fn add_member(&self, chat_id: ChatId, user: &UserRef) -> Result<i64, TelegramError> {
        let peer = self.input_peer(chat_id).await?;
        let (user_id, input) = self.resolve_user(user).await?;
        let tl::enums::messages::InvitedUsers::Users(invited) = match peer {
            tl::enums::InputPeer::Chat(chat) => {
                self.call(&tl::functions::messages::AddChatUser {
                    chat_id: chat.chat_id,
                    user_id: input,
                    // Telegram's default: the new member sees the last 100 messages.
                    fwd_limit: 100,
                })
                .await?
            }
            tl::enums::InputPeer::Channel(channel) => {
                self.call(&tl::functions::channels::InviteToChannel {
                    channel: input_channel(channel.channel_id, channel.access_hash),
                    users: vec![input],
                })
                .await?
            }
            _ => return Err(refused(400, "PEER_ID_INVALID")),
        };
        let (users, chats) = updates_parts(&invited.updates);
        self.remember(users, chats).await;
        if missing_of(&invited).contains(&user_id) {
            return Err(refused(403, "USER_PRIVACY_RESTRICTED"));
        }
        Ok(user_id)
    }

    /// The chat-list entry of one chat (`messages.getPeerDialogs`), to cache a chat this
    /// account just made or changed; an empty page when it is not in the list.
    pub async fn peer_dialog(&self, chat_id: ChatId) -> Result<DialogsPage, TelegramError> {
        let peer = self.input_peer(chat_id).await?;
        let tl::enums::messages::PeerDialogs::Dialogs(reply) = self
            .call(&tl::functions::messages::GetPeerDialogs {
                peers: vec![tl::types::InputDialogPeer { peer }.into()],
            })
            .await?;
        self.remember(&reply.users, &reply.chats).await;
        let users: Vec<TgUser> = reply.users.iter().filter_map(convert::user).collect();
        let chats: Vec<ChatInfo> = reply.chats.iter().filter_map(convert::chat).collect();
        Ok(DialogsPage {
            dialogs: dialog_infos(&reply.dialogs, &users, &chats),
            messages: reply.messages.iter().filter_map(convert::message).collect(),
            users,
            total: None,
            complete: true,
        })
    }
}
