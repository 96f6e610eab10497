//! A Telegram user's profile as this account sees it (`users.getFullUser`): name,
//! username, bio, photo, phone when visible, presence, contact, bot, verified, chats in
//! common.

use grammers_client::tl;

use crate::account::Account;
use crate::convert;
use crate::error::TelegramError;
use crate::groups::UserRef;
use crate::model::TgUser;

/// A user's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    /// The user (name, username, phone when visible, presence, photo, contact, bot).
    pub user: TgUser,
    /// Their bio.
    pub bio: String,
    /// Verified by Telegram.
    pub is_verified: bool,
    /// Groups and channels this account shares with them.
    pub common_chats_count: i32,
}

impl Account {
    /// The profile of a user this account has met (`USER_ID_INVALID` for others).
    pub async fn user_profile(&self, user_id: i64) -> Result<UserProfile, TelegramError> {
        let (_, input) = self.resolve_user(&UserRef::Id(user_id)).await?;
        self.full_user(input, |user| user.id == user_id).await
    }

    /// `users.getFullUser` of `input` (another user, or the account itself): the profile
    /// of the user of its answer that `is_asked` picks. The peers it names are remembered.
    pub(crate) async fn full_user(
        &self,
        input: tl::enums::InputUser,
        is_asked: impl Fn(&tl::types::User) -> bool,
    ) -> Result<UserProfile, TelegramError> {
        let tl::enums::users::UserFull::Full(full) = self
            .call(&tl::functions::users::GetFullUser { id: input })
            .await?;
        self.remember(&full.users, &full.chats).await;
        let tl::enums::UserFull::Full(user_full) = &full.full_user;
        let raw = full
            .users
            .iter()
            .find(|user| matches!(user, tl::enums::User::User(u) if is_asked(u)))
            .ok_or_else(|| {
                TelegramError::Internal("users.getFullUser answered without the user".into())
            })?;
        let is_verified = matches!(raw, tl::enums::User::User(u) if u.verified);
        let user = convert::user(raw)
            .ok_or_else(|| TelegramError::Internal("an empty user in users.getFullUser".into()))?;
        Ok(UserProfile {
            user,
            bio: user_full.about.clone().unwrap_or_default(),
            is_verified,
            common_chats_count: user_full.common_chats_count,
        })
    }
}
