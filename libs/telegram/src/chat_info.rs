//! Changing a group's or channel's title and description: `messages.editChatTitle` for
//! basic groups, `channels.editTitle` for supergroups and channels,
//! `messages.editChatAbout` for both. A change to what the chat has already
//! (`CHAT_NOT_MODIFIED`, `CHAT_ABOUT_NOT_MODIFIED`) is no change, not an error.
//!
//! The photo is in [`crate::photos`].

use grammers_client::tl;

use crate::account::Account;
use crate::error::TelegramError;
use crate::model::ChatId;

/// What to change of a chat's info; `None` keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatEdit {
    /// The new title.
    pub title: Option<String>,
    /// The new description (empty: none).
    pub about: Option<String>,
}

/// Whether a refusal only says that nothing would change.
fn unchanged(error: &TelegramError) -> bool {
    matches!(error, TelegramError::Refused { name, .. }
        if name == "CHAT_NOT_MODIFIED" || name == "CHAT_ABOUT_NOT_MODIFIED")
}

impl Account {
    /// Changes a group's or channel's title and / or description. Returns whether
    /// Telegram changed anything. `PEER_ID_INVALID` for a private chat; Telegram's
    /// refusals otherwise as they come (`CHAT_ADMIN_REQUIRED`, `CHAT_TITLE_EMPTY`,
    /// `CHAT_ABOUT_TOO_LONG`, ...).
    pub async fn edit_chat(&self, chat_id: ChatId, edit: &ChatEdit) -> Result<bool, TelegramError> {
        let peer = self.input_peer(chat_id).await?;
        let mut changed = false;
        if let Some(title) = &edit.title {
            let answer = match &peer {
                tl::enums::InputPeer::Chat(chat) => {
                    self.call(&tl::functions::messages::EditChatTitle {
                        chat_id: chat.chat_id,
                        title: title.clone(),
                    })
                    .await
                }
                tl::enums::InputPeer::Channel(channel) => {
                    self.call(&tl::functions::channels::EditTitle {
                        channel: tl::types::InputChannel {
                            channel_id: channel.channel_id,
                            access_hash: channel.access_hash,
                        }
                        .into(),
                        title: title.clone(),
                    })
                    .await
                }
                _ => {
                    return Err(TelegramError::Refused {
                        code: 400,
                        name: "PEER_ID_INVALID".into(),
                    });
                }
            };
            match answer {
                Ok(updates) => {
                    if let tl::enums::Updates::Updates(all) = &updates {
                        self.remember(&all.users, &all.chats).await;
                    }
                    changed = true;
                }
                Err(error) if unchanged(&error) => {}
                Err(error) => return Err(error),
            }
        }
        if let Some(about) = &edit.about {
            if !matches!(
                peer,
                tl::enums::InputPeer::Chat(_) | tl::enums::InputPeer::Channel(_)
            ) {
                return Err(TelegramError::Refused {
                    code: 400,
                    name: "PEER_ID_INVALID".into(),
                });
            }
            match self
                .call(&tl::functions::messages::EditChatAbout {
                    peer: peer.clone(),
                    about: about.clone(),
                })
                .await
            {
                Ok(_) => changed = true,
                Err(error) if unchanged(&error) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(changed)
    }
}
