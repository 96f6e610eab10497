//! Removing members, leaving a chat, and promoting or demoting admins, with Telegram's
//! raw calls: `messages.deleteChatUser` and `messages.editChatAdmin` in basic groups,
//! `channels.editBanned` (banned from viewing messages), `channels.leaveChannel` and
//! `channels.editAdmin` in supergroups and channels.
//!
//! An admin is promoted with [`default_admin_rights`] (everything but adding admins,
//! staying anonymous and the rights of forums and stories) and demoted with empty rights.
//!
//! Not yet: restricting a member short of removing them, custom rights or ranks, and
//! deleting a basic group's history when leaving it (`revoke_history`).

use grammers_client::tl;

use crate::account::Account;
use crate::error::TelegramError;
use crate::groups::UserRef;
use crate::model::ChatId;

/// A change of who is in a chat, or of who administers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// Remove the user.
    Remove(UserRef),
    /// The account leaves.
    Leave,
    /// Make the user an admin (`true`) or take it back.
    SetAdmin {
        /// Who.
        user: UserRef,
        /// Admin after the change.
        admin: bool,
    },
}

/// The rights a promoted admin gets: managing the chat's content and members, not
/// adding other admins.
pub fn default_admin_rights() -> tl::types::ChatAdminRights {
    tl::types::ChatAdminRights {
        change_info: true,
        post_messages: true,
        edit_messages: true,
        delete_messages: true,
        ban_users: true,
        invite_users: true,
        pin_messages: true,
        add_admins: false,
        anonymous: false,
        manage_call: true,
        other: true,
        manage_topics: false,
        post_stories: false,
        edit_stories: false,
        delete_stories: false,
        manage_direct_messages: false,
        manage_ranks: false,
        manage_linked_peers: false,
        manage_welcome_messages: false,
    }
}

/// No rights: an admin demoted.
fn no_admin_rights() -> tl::types::ChatAdminRights {
    tl::types::ChatAdminRights {
        change_info: false,
        post_messages: false,
        edit_messages: false,
        delete_messages: false,
        ban_users: false,
        invite_users: false,
        pin_messages: false,
        add_admins: false,
        anonymous: false,
        manage_call: false,
        other: false,
        manage_topics: false,
        post_stories: false,
        edit_stories: false,
        delete_stories: false,
        manage_direct_messages: false,
        manage_ranks: false,
        manage_linked_peers: false,
        manage_welcome_messages: false,
    }
}

/// Banned from viewing messages, for good: removed from the chat.
fn removed_rights() -> tl::enums::ChatBannedRights {
    tl::types::ChatBannedRights {
        view_messages: true,
        send_messages: true,
        send_media: true,
        send_stickers: true,
        send_gifs: true,
        send_games: true,
        send_inline: true,
        embed_links: true,
        send_polls: true,
        change_info: true,
        invite_users: true,
        pin_messages: true,
        manage_topics: true,
        send_photos: true,
        send_videos: true,
        send_roundvideos: true,
        send_audios: true,
        send_voices: true,
        send_docs: true,
        send_plain: true,
        edit_rank: true,
        send_reactions: true,
        manage_linked_peers: true,
        // 0: forever.
        until_date: 0,
    }
    .into()
}

fn refused(code: i32, name: &str) -> TelegramError {
    TelegramError::Refused {
        code,
        name: name.to_owned(),
    }
}

fn users_and_chats(updates: &tl::enums::Updates) -> (&[tl::enums::User], &[tl::enums::Chat]) {
    match updates {
        tl::enums::Updates::Updates(all) => (&all.users, &all.chats),
        tl::enums::Updates::Combined(all) => (&all.users, &all.chats),
        _ => (&[], &[]),
    }
}

impl Account {
    /// Removes a member, leaves, or promotes / demotes an admin in a group, supergroup
    /// or channel. Returns the Telegram user id the change was about (the account's own
    /// for [`MemberChange::Leave`]). Telegram's refusals come back as they are
    /// (`CHAT_ADMIN_REQUIRED`, `USER_NOT_PARTICIPANT`, `USER_ADMIN_INVALID`,
    /// `USER_CREATOR`, ...); `PEER_ID_INVALID` for a private chat.
    pub async fn change_members(
        &self,
        chat_id: ChatId,
        change: &MemberChange,
    ) -> Result<i64, TelegramError> {
        let peer = self.input_peer(chat_id).await?;
        let (user_id, input_user) = match change {
            MemberChange::Remove(user) | MemberChange::SetAdmin { user, .. } => {
                self.resolve_user(user).await?
            }
            MemberChange::Leave => (self.me().await?.id, tl::enums::InputUser::UserSelf),
        };
        let updates = match (peer, change) {
            (tl::enums::InputPeer::Chat(chat), MemberChange::Remove(_) | MemberChange::Leave) => {
                self.call(&tl::functions::messages::DeleteChatUser {
                    revoke_history: false,
                    chat_id: chat.chat_id,
                    user_id: input_user,
                })
                .await?
            }
            (tl::enums::InputPeer::Chat(chat), MemberChange::SetAdmin { admin, .. }) => {
                self.call(&tl::functions::messages::EditChatAdmin {
                    chat_id: chat.chat_id,
                    user_id: input_user,
                    is_admin: *admin,
                })
                .await?;
                return Ok(user_id);
            }
            (tl::enums::InputPeer::Channel(channel), change) => {
                let input_channel: tl::enums::InputChannel = tl::types::InputChannel {
                    channel_id: channel.channel_id,
                    access_hash: channel.access_hash,
                }
                .into();
                match change {
                    MemberChange::Leave => {
                        self.call(&tl::functions::channels::LeaveChannel {
                            channel: input_channel,
                        })
                        .await?
                    }
                    MemberChange::Remove(_) => {
                        let tl::enums::InputUser::User(user) = input_user else {
                            return Err(refused(400, "USER_ID_INVALID"));
                        };
                        self.call(&tl::functions::channels::EditBanned {
                            channel: input_channel,
                            participant: tl::types::InputPeerUser {
                                user_id: user.user_id,
                                access_hash: user.access_hash,
                            }
                            .into(),
                            banned_rights: removed_rights(),
                        })
                        .await?
                    }
                    MemberChange::SetAdmin { admin, .. } => {
                        let rights = if *admin {
                            default_admin_rights()
                        } else {
                            no_admin_rights()
                        };
                        self.call(&tl::functions::channels::EditAdmin {
                            channel: input_channel,
                            user_id: input_user,
                            admin_rights: rights.into(),
                            rank: None,
                        })
                        .await?
                    }
                }
            }
            _ => return Err(refused(400, "PEER_ID_INVALID")),
        };
        let (users, chats) = users_and_chats(&updates);
        self.remember(users, chats).await;
        Ok(user_id)
    }
}
