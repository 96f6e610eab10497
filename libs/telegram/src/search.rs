//! Telegram's own search and the contact list: `messages.search` (one chat),
//! `messages.searchGlobal` (every chat of the account) and `contacts.getContacts`.
//!
//! Telegram's date bounds are exclusive ("bigger than `min_date`", "smaller than
//! `max_date`"); [`MessageSearch`] takes inclusive ones, as TalkApp's API does, and widens
//! them by a second on the wire. Telegram's matching is its own (whole words, its own
//! folding), so a caller that promises exact filters applies them again to what comes back.
//!
//! Later pages continue after the previous page's last hit ([`SearchOffset`]) with
//! Telegram's own offsets: `offset_id` in one chat (Telegram's messages there come newest
//! first by id), `offset_rate`, `offset_peer` and `offset_id` across chats (newest first
//! by date, then chat id, then message id, as TDLib documents `searchMessages`). A date
//! bound alone would repeat the same hits whenever more than a page share one second.

use grammers_client::tl;

use crate::account::Account;
use crate::convert;
use crate::error::TelegramError;
use crate::model::{ChatId, MessagesPage, TgUser};

/// Telegram's `MessagesFilter`, for the kinds TalkApp searches by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchFilter {
    /// Photos.
    Photo,
    /// Videos.
    Video,
    /// Files (documents that are not videos, voice notes, music or GIFs).
    Document,
    /// Voice notes.
    Voice,
    /// Messages with a link.
    Link,
}

impl SearchFilter {
    /// The filter named `photo`, `video`, `document`, `voice` or `link`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "photo" => Some(Self::Photo),
            "video" => Some(Self::Video),
            "document" => Some(Self::Document),
            "voice" => Some(Self::Voice),
            "link" => Some(Self::Link),
            _ => None,
        }
    }

    /// Its name, as [`SearchFilter::parse`] takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Photo => "photo",
            Self::Video => "video",
            Self::Document => "document",
            Self::Voice => "voice",
            Self::Link => "link",
        }
    }

    fn to_tl(self) -> tl::enums::MessagesFilter {
        use tl::enums::MessagesFilter as F;
        match self {
            Self::Photo => F::InputMessagesFilterPhotos,
            Self::Video => F::InputMessagesFilterVideo,
            Self::Document => F::InputMessagesFilterDocument,
            Self::Voice => F::InputMessagesFilterVoice,
            Self::Link => F::InputMessagesFilterUrl,
        }
    }
}

/// A search of the account's messages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageSearch {
    /// The words, as the user typed them.
    pub text: String,
    /// Only this chat (`messages.search`); none: every chat (`messages.searchGlobal`).
    pub chat_id: Option<ChatId>,
    /// Sent at or after (Unix seconds).
    pub from_date: Option<i64>,
    /// Sent at or before (Unix seconds).
    pub to_date: Option<i64>,
    /// Only from this sender (one chat only; ignored across chats, where Telegram has no
    /// such filter).
    pub sender_id: Option<ChatId>,
    /// Only this kind of message.
    pub filter: Option<SearchFilter>,
    /// At most this many (Telegram caps a page at 100).
    pub limit: i32,
    /// A later page: only what comes after this hit, newest first; none: the first page.
    pub offset: Option<SearchOffset>,
}

/// Where a later page of a search starts: after this message, in the order of Telegram's
/// hits (newest first by date, then chat id, then message id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchOffset {
    /// Its date (Unix seconds).
    pub date: i64,
    /// Its chat.
    pub chat_id: ChatId,
    /// Its id in that chat.
    pub message_id: i32,
}

/// One of the account's contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The user, with their presence.
    pub user: TgUser,
    /// Whether they have the account in their contacts too.
    pub mutual: bool,
}

/// An inclusive lower bound as Telegram's exclusive one (0: none).
fn exclusive_min(date: Option<i64>) -> i32 {
    date.map_or(0, |date| {
        i32::try_from(date.saturating_sub(1).max(0)).unwrap_or(i32::MAX)
    })
}

/// An inclusive upper bound as Telegram's exclusive one (0: none).
fn exclusive_max(date: Option<i64>) -> i32 {
    date.map_or(0, |date| {
        i32::try_from(date.saturating_add(1).max(1)).unwrap_or(i32::MAX)
    })
}

/// The lower of two inclusive upper bounds (none: no bound).
fn earlier(bound: Option<i64>, other: i64) -> Option<i64> {
    Some(bound.map_or(other, |bound| bound.min(other)))
}

/// How `messages.search` in `chat_id` continues after `offset`: (`offset_id`, the inclusive
/// upper date bound). Telegram's hits in one chat come newest first by id, and a chat's ids
/// grow with its dates (history imports aside), so the offset's own chat continues below
/// its id; at the offset's date, a chat with a lower id comes after it (all of that second
/// is still to come) and one with a higher id before it (only older seconds are).
fn chat_continuation(
    chat_id: ChatId,
    to_date: Option<i64>,
    offset: Option<SearchOffset>,
) -> (i32, Option<i64>) {
    let Some(offset) = offset else {
        return (0, to_date);
    };
    match chat_id.cmp(&offset.chat_id) {
        std::cmp::Ordering::Equal => (offset.message_id, earlier(to_date, offset.date)),
        std::cmp::Ordering::Less => (0, earlier(to_date, offset.date)),
        std::cmp::Ordering::Greater => (0, earlier(to_date, offset.date.saturating_sub(1))),
    }
}

impl Account {
    /// Messages matching `search`, newest first, as Telegram finds them.
    pub async fn search_messages(
        &self,
        search: &MessageSearch,
    ) -> Result<MessagesPage, TelegramError> {
        let filter = search.filter.map_or(
            tl::enums::MessagesFilter::InputMessagesFilterEmpty,
            |filter| filter.to_tl(),
        );
        let limit = search.limit.clamp(1, 100);
        let min_date = exclusive_min(search.from_date);
        let reply = match search.chat_id {
            Some(chat_id) => {
                let peer = self.input_peer(chat_id).await?;
                let from_id = match search.sender_id {
                    Some(sender_id) => Some(self.input_peer(sender_id).await?),
                    None => None,
                };
                let (offset_id, to_date) =
                    chat_continuation(chat_id, search.to_date, search.offset);
                self.call(&tl::functions::messages::Search {
                    peer,
                    q: search.text.clone(),
                    from_id,
                    saved_peer_id: None,
                    saved_reaction: None,
                    top_msg_id: None,
                    filter,
                    min_date,
                    // Not newer than the offset's second: what is newer came before it.
                    max_date: exclusive_max(to_date),
                    offset_id,
                    add_offset: 0,
                    limit,
                    max_id: 0,
                    min_id: 0,
                    hash: 0,
                })
                .await?
            }
            None => {
                let (offset_rate, offset_peer, offset_id, to_date) = match search.offset {
                    None => (0, tl::enums::InputPeer::Empty, 0, search.to_date),
                    Some(offset) => {
                        let to_date = earlier(search.to_date, offset.date);
                        match self.input_peer(offset.chat_id).await {
                            Ok(peer) => (
                                i32::try_from(offset.date).unwrap_or(i32::MAX),
                                peer,
                                offset.message_id,
                                to_date,
                            ),
                            // A chat the session cannot name (never seen, or left): only
                            // the offset's second as the bound, as before Telegram's
                            // offsets were used. The caller drops the hits it has shown,
                            // but when more than a page share that second this page
                            // repeats them and cannot reach the older ones.
                            Err(TelegramError::UnknownChat(_)) => {
                                (0, tl::enums::InputPeer::Empty, 0, to_date)
                            }
                            Err(error) => return Err(error),
                        }
                    }
                };
                self.call(&tl::functions::messages::SearchGlobal {
                    broadcasts_only: false,
                    groups_only: false,
                    users_only: false,
                    folder_id: None,
                    community: None,
                    q: search.text.clone(),
                    filter,
                    min_date,
                    max_date: exclusive_max(to_date),
                    offset_rate,
                    offset_peer,
                    offset_id,
                    limit,
                })
                .await?
            }
        };
        self.messages_page("messages.search", reply).await
    }

    /// The account's contacts, with their presence, in Telegram's order.
    pub async fn contacts(&self) -> Result<Vec<Contact>, TelegramError> {
        let reply = self
            .call(&tl::functions::contacts::GetContacts { hash: 0 })
            .await?;
        let tl::enums::contacts::Contacts::Contacts(contacts) = reply else {
            return Err(TelegramError::Internal(
                "contacts.getContacts answered not-modified without a hash".into(),
            ));
        };
        self.remember(&contacts.users, &[]).await;
        let users: Vec<TgUser> = contacts.users.iter().filter_map(convert::user).collect();
        Ok(contacts
            .contacts
            .iter()
            .filter_map(|contact| {
                let tl::enums::Contact::Contact(contact) = contact;
                users
                    .iter()
                    .find(|user| user.id == contact.user_id)
                    .map(|user| Contact {
                        user: user.clone(),
                        mutual: contact.mutual,
                    })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusive_bounds_become_telegrams_exclusive_ones() {
        assert_eq!(exclusive_min(None), 0);
        assert_eq!(exclusive_max(None), 0);
        assert_eq!(exclusive_min(Some(1_000)), 999);
        assert_eq!(exclusive_max(Some(1_000)), 1_001);
        assert_eq!(exclusive_max(Some(i64::MAX)), i32::MAX);
        assert_eq!(exclusive_min(Some(0)), 0);
    }

    #[test]
    fn one_chat_continues_below_the_offsets_id_or_by_the_offsets_second() {
        let offset = SearchOffset {
            date: 5_000,
            chat_id: 42,
            message_id: 17,
        };
        assert_eq!(chat_continuation(42, None, None), (0, None));
        assert_eq!(chat_continuation(42, Some(9), None), (0, Some(9)));
        // Its own chat: below its id, not newer than its second.
        assert_eq!(chat_continuation(42, None, Some(offset)), (17, Some(5_000)));
        assert_eq!(
            chat_continuation(42, Some(4_000), Some(offset)),
            (17, Some(4_000))
        );
        // A lower chat id comes after it within the second: the whole second is left.
        assert_eq!(chat_continuation(7, None, Some(offset)), (0, Some(5_000)));
        // A higher one came before it: only older seconds are left.
        assert_eq!(chat_continuation(99, None, Some(offset)), (0, Some(4_999)));
    }

    #[test]
    fn filters_round_trip_their_names() {
        for filter in [
            SearchFilter::Photo,
            SearchFilter::Video,
            SearchFilter::Document,
            SearchFilter::Voice,
            SearchFilter::Link,
        ] {
            assert_eq!(SearchFilter::parse(filter.name()), Some(filter));
        }
        assert_eq!(SearchFilter::parse("text"), None);
    }
}
