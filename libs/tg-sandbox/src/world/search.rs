//! Searching messages (in one chat, or across the account's chats) and peers.

use super::query::HistoryPage;
use super::{HistoryQuery, MessageMedia, Peer, StoredMessage, UserId, World};

/// `MessagesFilter`, as far as the sandbox keeps the kinds of media it tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SearchFilter {
    Empty,
    Photos,
    Video,
    PhotoVideo,
    /// Files: documents that are not videos, voice notes, music or GIFs.
    Document,
    /// Messages with a link in their text.
    Url,
    Gif,
    Voice,
    Music,
    RoundVoice,
    RoundVideo,
    /// A filter for something the sandbox never stores (geo, contacts, polls, ...).
    Nothing,
}

/// What a message must match.
#[derive(Clone, Debug)]
pub(crate) struct SearchQuery {
    /// Case-insensitive substring of the text (or a document's file name); empty: any.
    pub(crate) text: String,
    pub(crate) from: Option<UserId>,
    pub(crate) filter: SearchFilter,
    /// Only messages sent after this date, exclusive as Telegram's; 0: no bound.
    pub(crate) min_date: i32,
    /// Only messages sent before this date, exclusive; 0: no bound.
    pub(crate) max_date: i32,
}

/// Which chats `messages.searchGlobal` looks in.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct GlobalScope {
    pub(crate) broadcasts_only: bool,
    pub(crate) groups_only: bool,
    pub(crate) users_only: bool,
}

/// One page of a global search, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GlobalPage {
    pub(crate) hits: Vec<(Peer, i32)>,
    pub(crate) count: usize,
    /// The rate (date) of the last hit, when more follow.
    pub(crate) next_rate: Option<i32>,
}

fn has_link(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("http://") || lower.contains("https://") || lower.contains("www.")
}

/// Prefix match on any word of `name`, on the whole of it, or on `username`.
pub(crate) fn name_matches(query: &str, name: &str, username: Option<&str>) -> bool {
    let query = query.trim().trim_start_matches('@').to_lowercase();
    if query.is_empty() {
        return false;
    }
    let name = name.to_lowercase();
    name.starts_with(&query)
        || name.split_whitespace().any(|word| word.starts_with(&query))
        || username.is_some_and(|u| u.to_lowercase().starts_with(&query))
}

impl World {
    fn matches(&self, message: &StoredMessage, query: &SearchQuery) -> bool {
        if message.action.is_some() {
            return false;
        }
        // Telegram's bounds are exclusive: "date bigger than min_date", "smaller than
        // max_date" (messages.search, messages.searchGlobal).
        if query.min_date > 0 && message.date <= query.min_date {
            return false;
        }
        if query.max_date > 0 && message.date >= query.max_date {
            return false;
        }
        if query.from.is_some() && message.from != query.from {
            return false;
        }
        let document = match message.media {
            Some(MessageMedia::Document(id)) => self.documents.get(&id),
            _ => None,
        };
        if !query.text.is_empty() {
            let needle = query.text.to_lowercase();
            let in_text = message.text.to_lowercase().contains(&needle);
            let in_name = document
                .and_then(|d| d.file_name())
                .is_some_and(|name| name.to_lowercase().contains(&needle));
            if !in_text && !in_name {
                return false;
            }
        }
        let photo = matches!(message.media, Some(MessageMedia::Photo(_)));
        let video = document.is_some_and(|d| d.is_video() && !d.is_round());
        let round = document.is_some_and(|d| d.is_round());
        let voice = document.is_some_and(|d| d.is_voice());
        let music = document.is_some_and(|d| d.is_music());
        let gif = document.is_some_and(|d| d.is_animated());
        match query.filter {
            SearchFilter::Empty => true,
            SearchFilter::Photos => photo,
            SearchFilter::Video => video,
            SearchFilter::PhotoVideo => photo || video,
            SearchFilter::Document => {
                document.is_some() && !video && !round && !voice && !music && !gif
            }
            SearchFilter::Url => has_link(&message.text),
            SearchFilter::Gif => gif,
            SearchFilter::Voice => voice,
            SearchFilter::Music => music,
            SearchFilter::RoundVoice => round || voice,
            SearchFilter::RoundVideo => round,
            SearchFilter::Nothing => false,
        }
    }

    /// `messages.search` in one chat, paged like history.
    pub(crate) fn search(
        &self,
        viewer: UserId,
        peer: Peer,
        query: &SearchQuery,
        paging: &HistoryQuery,
    ) -> HistoryPage {
        let matching: Vec<(i32, i32)> = self
            .newest_first(viewer, peer)
            .into_iter()
            .filter(|(id, _)| {
                self.message(viewer, peer, *id)
                    .is_some_and(|m| self.matches(m, query))
            })
            .collect();
        HistoryPage {
            ids: paging.apply(&matching),
            count: matching.len(),
        }
    }

    /// `messages.searchGlobal` over the account's chats, newest first, continuing after
    /// `(offset_rate, offset_peer, offset_id)` of the previous page (no peer: after every
    /// hit of that date).
    pub(crate) fn search_global(
        &self,
        viewer: UserId,
        query: &SearchQuery,
        scope: GlobalScope,
        offset: Option<(i32, Option<Peer>, i32)>,
        limit: usize,
    ) -> GlobalPage {
        let wanted = |peer: Peer| {
            let broadcast = match peer {
                Peer::Channel(id) => self.channels.get(&id).is_some_and(|c| c.broadcast),
                _ => false,
            };
            let group =
                matches!(peer, Peer::Chat(_)) || matches!(peer, Peer::Channel(_)) && !broadcast;
            (!scope.broadcasts_only || broadcast)
                && (!scope.groups_only || group)
                && (!scope.users_only || matches!(peer, Peer::User(_)))
        };
        // (date, dialog id, id), newest first: the order Telegram answers in (TDLib
        // documents `searchMessages` as "decreasing (date, chat_id, message_id)", chat_id
        // being the Bot-API-style dialog id), so a page continues exactly after the
        // previous page's last hit however many share its second.
        let mut hits: Vec<(i32, i64, i32, Peer)> = Vec::new();
        if let Some(user_box) = self.boxes.get(&viewer) {
            for message in user_box.messages.values() {
                if self.can_access(viewer, message.peer)
                    && wanted(message.peer)
                    && self.matches(message, query)
                {
                    hits.push((
                        message.date,
                        message.peer.dialog_id(),
                        message.id,
                        message.peer,
                    ));
                }
            }
        }
        for channel in self.channels.values() {
            let peer = Peer::Channel(channel.id);
            if !channel.members.contains(&viewer) || !wanted(peer) {
                continue;
            }
            for message in channel.messages.values() {
                if self.matches(message, query) {
                    hits.push((message.date, peer.dialog_id(), message.id, peer));
                }
            }
        }
        hits.sort_unstable_by(|a, b| b.cmp(a));
        let count = hits.len();
        // After the offset: what sorts below (date, dialog id, id). With no offset peer,
        // below every peer of that date: only older dates.
        let start = offset.map_or(0, |(rate, peer, id)| {
            let after = (rate, peer.map_or(i64::MIN, Peer::dialog_id), id);
            hits.partition_point(|(date, dialog, id, _)| (*date, *dialog, *id) >= after)
        });
        let page: Vec<(i32, i64, i32, Peer)> =
            hits.iter().skip(start).take(limit).copied().collect();
        let more = start + page.len() < count;
        GlobalPage {
            next_rate: more.then(|| page.last().map_or(0, |(date, _, _, _)| *date)),
            hits: page
                .into_iter()
                .map(|(_, _, id, peer)| (peer, id))
                .collect(),
            count,
        }
    }

    /// `contacts.search`: the account's own matches (contacts, its chats) and public
    /// ones (other users and channels found by username), each at most `limit`.
    pub(crate) fn search_peers(
        &self,
        viewer: UserId,
        query: &str,
        limit: usize,
    ) -> (Vec<Peer>, Vec<Peer>) {
        let viewer_record = self.users.get(&viewer);
        let contacts = viewer_record.map(|u| &u.contacts);
        let mut mine = Vec::new();
        let mut public = Vec::new();
        for user in self.users.values() {
            if user.info.id == viewer {
                continue;
            }
            // A contact is found by the name the account saved them under.
            let saved = viewer_record.and_then(|v| v.contact_names.get(&user.info.id));
            let (first_name, last_name) = match saved {
                Some(saved) => (&saved.first_name, &saved.last_name),
                None => (&user.info.first_name, &user.info.last_name),
            };
            let name = format!("{first_name} {}", last_name.as_deref().unwrap_or_default());
            let is_contact = contacts.is_some_and(|c| c.contains(&user.info.id));
            if is_contact && name_matches(query, &name, user.info.username.as_deref()) {
                mine.push(Peer::User(user.info.id));
            } else if !is_contact && name_matches(query, "", user.info.username.as_deref()) {
                public.push(Peer::User(user.info.id));
            }
        }
        for (id, chat) in &self.chats {
            if chat.members.contains(&viewer) && name_matches(query, &chat.title, None) {
                mine.push(Peer::Chat(*id));
            }
        }
        for channel in self.channels.values() {
            let peer = Peer::Channel(channel.id);
            if channel.members.contains(&viewer) {
                if name_matches(query, &channel.title, channel.username.as_deref()) {
                    mine.push(peer);
                }
            } else if name_matches(query, "", channel.username.as_deref()) {
                public.push(peer);
            }
        }
        mine.truncate(limit);
        public.truncate(limit);
        (mine, public)
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn names_match_by_word_prefix_and_usernames_by_prefix() {
        assert!(name_matches("san", "Alice Sandbox", None));
        assert!(name_matches("alice s", "Alice Sandbox", None));
        assert!(name_matches("@ali", "", Some("alice_sandbox")));
        assert!(!name_matches("box", "Alice Sandbox", Some("alice_sandbox")));
        assert!(!name_matches(" ", "Alice", None));
    }
}
