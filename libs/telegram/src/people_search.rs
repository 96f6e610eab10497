//! Telegram's people search (`contacts.search`): users whose names or usernames match,
//! the account's contacts and chats first (`my_results`), then other users found by
//! username (`results`). Channels and groups in the answer are left out: this is a search
//! for people.

use grammers_client::tl;

use crate::account::Account;
use crate::convert;
use crate::error::TelegramError;
use crate::model::TgUser;

impl Account {
    /// Up to `limit` users matching `query`, the account's own contacts and chats first;
    /// never the account itself.
    pub async fn search_people(
        &self,
        query: &str,
        limit: i32,
    ) -> Result<Vec<TgUser>, TelegramError> {
        let tl::enums::contacts::Found::Found(found) = self
            .call(&tl::functions::contacts::Search {
                broadcasts: false,
                bots: false,
                q: query.to_owned(),
                limit,
            })
            .await?;
        self.remember(&found.users, &found.chats).await;
        let users: Vec<TgUser> = found.users.iter().filter_map(convert::user).collect();
        let mut people = Vec::new();
        for peer in found.my_results.iter().chain(&found.results) {
            let tl::enums::Peer::User(peer) = peer else {
                continue;
            };
            let Some(user) = users.iter().find(|user| user.id == peer.user_id) else {
                continue;
            };
            if !user.is_self && !people.iter().any(|known: &TgUser| known.id == user.id) {
                people.push(user.clone());
            }
        }
        Ok(people)
    }
}
