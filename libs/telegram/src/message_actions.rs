//! Changing and passing on messages: editing a text (`messages.editMessage`), deleting
//! (`messages.deleteMessages` for me or for everyone, `channels.deleteMessages`) and
//! forwarding (`messages.forwardMessages`, de-duplicated by Telegram through each
//! copy's `random_id`), pinning and unpinning (`messages.updatePinnedMessage`,
//! `messages.unpinAllMessages`).
//!
//! Not yet: editing media or formatting entities.

use grammers_client::tl;

use crate::account::Account;
use crate::convert;
use crate::error::TelegramError;
use crate::model::{ChatId, Message};

/// The message an `Updates` answer carries, edited or new.
fn message_in(updates: &tl::enums::Updates, message_id: i32) -> Option<Message> {
    let found = |update: &tl::enums::Update| match update {
        tl::enums::Update::EditMessage(edit) => convert::message(&edit.message),
        tl::enums::Update::EditChannelMessage(edit) => convert::message(&edit.message),
        _ => None,
    };
    match updates {
        tl::enums::Updates::Updates(all) => all.updates.iter().filter_map(found).next(),
        tl::enums::Updates::Combined(all) => all.updates.iter().filter_map(found).next(),
        tl::enums::Updates::UpdateShort(short) => found(&short.update),
        _ => None,
    }
    .filter(|message| message.id == message_id)
}

/// The messages an `Updates` answer adds to `chat_id`, in the order given.
fn new_messages_in(updates: &tl::enums::Updates, chat_id: ChatId) -> Vec<Message> {
    let all: &[tl::enums::Update] = match updates {
        tl::enums::Updates::Updates(all) => &all.updates,
        tl::enums::Updates::Combined(all) => &all.updates,
        _ => &[],
    };
    all.iter()
        .filter_map(|update| match update {
            tl::enums::Update::NewMessage(new) => convert::message(&new.message),
            tl::enums::Update::NewChannelMessage(new) => convert::message(&new.message),
            _ => None,
        })
        .filter(|message| message.chat_id == chat_id)
        .collect()
}

impl Account {
    /// Forwards messages of `from_chat` to `to_chat`, one `random_ids` entry per
    /// message (the same ids again: Telegram answers with the first copies). Returns the
    /// copies in `to_chat`.
    pub async fn forward_messages(
        &self,
        from_chat: ChatId,
        message_ids: &[i32],
        to_chat: ChatId,
        random_ids: &[i64],
        silent: bool,
    ) -> Result<Vec<Message>, TelegramError> {
        let from_peer = self.input_peer(from_chat).await?;
        let to_peer = self.input_peer(to_chat).await?;
        let updates = self
            .call(&tl::functions::messages::ForwardMessages {
                silent,
                background: false,
                with_my_score: false,
                drop_author: false,
                drop_media_captions: false,
                noforwards: false,
                allow_paid_floodskip: false,
                from_ephemeral: false,
                from_peer,
                id: message_ids.to_vec(),
                random_id: random_ids.to_vec(),
                to_peer,
                top_msg_id: None,
                reply_to: None,
                schedule_date: None,
                schedule_repeat_period: None,
                send_as: None,
                quick_reply_shortcut: None,
                effect: None,
                video_timestamp: None,
                allow_paid_stars: None,
                suggested_post: None,
            })
            .await?;
        Ok(new_messages_in(&updates, to_chat))
    }

    /// Replaces the text (or caption) of a message this account sent;
    /// `MESSAGE_NOT_MODIFIED` when it is the same, `MESSAGE_AUTHOR_REQUIRED` for another's,
    /// `MESSAGE_ID_INVALID` for none. Returns the message as edited.
    pub async fn edit_text(
        &self,
        chat_id: ChatId,
        message_id: i32,
        text: &str,
    ) -> Result<Message, TelegramError> {
        let peer = self.input_peer(chat_id).await?;
        let updates = self
            .call(&tl::functions::messages::EditMessage {
                no_webpage: false,
                invert_media: false,
                peer,
                id: message_id,
                message: Some(text.to_owned()),
                media: None,
                reply_markup: None,
                entities: None,
                schedule_date: None,
                schedule_repeat_period: None,
                quick_reply_shortcut_id: None,
                rich_message: None,
            })
            .await?;
        message_in(&updates, message_id).ok_or_else(|| {
            TelegramError::Internal("messages.editMessage answered without the message".into())
        })
    }

    /// Deletes messages of a chat: in a private chat or basic group for this account
    /// only, or for everyone (`revoke`); in a supergroup or channel always for everyone
    /// (Telegram's only kind there). Returns whether the deletion was in a supergroup or
    /// channel (whose update names the chat; a basic group's or private chat's does not).
    pub async fn delete_messages(
        &self,
        chat_id: ChatId,
        message_ids: &[i32],
        revoke: bool,
    ) -> Result<bool, TelegramError> {
        match self.input_peer(chat_id).await? {
            tl::enums::InputPeer::Channel(channel) => {
                self.call(&tl::functions::channels::DeleteMessages {
                    channel: tl::types::InputChannel {
                        channel_id: channel.channel_id,
                        access_hash: channel.access_hash,
                    }
                    .into(),
                    id: message_ids.to_vec(),
                })
                .await?;
                Ok(true)
            }
            _ => {
                self.call(&tl::functions::messages::DeleteMessages {
                    revoke,
                    id: message_ids.to_vec(),
                })
                .await?;
                Ok(false)
            }
        }
    }

    /// Pins (or with `unpin`, unpins) a message; `silent` notifies nobody, `one_side`
    /// pins a private chat's message for this account alone. A pin of a pinned message
    /// is no error. `MESSAGE_ID_INVALID` for a message that is not there,
    /// `CHAT_ADMIN_REQUIRED` without the right to pin. The pin comes back as an update
    /// (and Telegram's service message as a new message) through the update stream.
    pub async fn pin_message(
        &self,
        chat_id: ChatId,
        message_id: i32,
        pin: PinOptions,
    ) -> Result<(), TelegramError> {
        let peer = self.input_peer(chat_id).await?;
        self.call(&tl::functions::messages::UpdatePinnedMessage {
            silent: pin.silent,
            unpin: pin.unpin,
            pm_oneside: pin.one_side,
            peer,
            id: message_id,
        })
        .await?;
        Ok(())
    }

    /// Unpins every pinned message of a chat (`messages.unpinAllMessages`, repeated
    /// while Telegram says there is more: `offset` above 0).
    pub async fn unpin_all_messages(&self, chat_id: ChatId) -> Result<(), TelegramError> {
        let peer = self.input_peer(chat_id).await?;
        // Telegram unpins in batches; a bounded number of rounds keeps a misbehaving
        // answer from looping forever.
        for _ in 0..100 {
            let tl::enums::messages::AffectedHistory::History(affected) = self
                .call(&tl::functions::messages::UnpinAllMessages {
                    peer: peer.clone(),
                    top_msg_id: None,
                    saved_peer_id: None,
                })
                .await?;
            if affected.offset <= 0 {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// How a message is pinned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PinOptions {
    /// Unpin instead.
    pub unpin: bool,
    /// Without notifying the chat's members.
    pub silent: bool,
    /// A private chat's message pinned for this account only (`pm_oneside`).
    pub one_side: bool,
}
