//! The account's own profile: reading it (`users.getFullUser` on `inputUserSelf`) and
//! changing its names, bio (`account.updateProfile`) and username
//! (`account.updateUsername`, whose `USERNAME_NOT_MODIFIED` is no error here: the
//! username is what was asked for).
//!
//! A change of username and of names is two calls: the username goes first (the one
//! Telegram refuses most, `USERNAME_OCCUPIED`), so a refused username changes nothing.
//! The names and bio are checked by the caller before; should Telegram still refuse
//! them, the username stays changed. The profile photo is in [`crate::photos`].

use grammers_client::tl;

use crate::account::Account;
use crate::error::TelegramError;
use crate::profiles::UserProfile;

/// What to change in the account's profile; `None` leaves a field as it is, an empty
/// `last_name`, `bio` or `username` removes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChange {
    /// The first name.
    pub first_name: Option<String>,
    /// The last name.
    pub last_name: Option<String>,
    /// The bio (Telegram's `about`).
    pub bio: Option<String>,
    /// The username, without `@`.
    pub username: Option<String>,
}

impl ProfileChange {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.first_name.is_none()
            && self.last_name.is_none()
            && self.bio.is_none()
            && self.username.is_none()
    }
}

fn is_not_modified(error: &TelegramError) -> bool {
    matches!(error, TelegramError::Refused { name, .. } if name == "USERNAME_NOT_MODIFIED")
}

impl Account {
    /// The account's own profile, as Telegram has it now.
    pub async fn own_profile(&self) -> Result<UserProfile, TelegramError> {
        self.full_user(tl::enums::InputUser::UserSelf, |user| user.is_self)
            .await
    }

    /// Changes the account's profile; answers it as it is afterwards.
    pub async fn update_own_profile(
        &self,
        change: &ProfileChange,
    ) -> Result<UserProfile, TelegramError> {
        if let Some(username) = &change.username {
            let updated = self
                .call(&tl::functions::account::UpdateUsername {
                    username: username.trim_start_matches('@').to_owned(),
                })
                .await;
            match updated {
                Ok(user) => self.remember(&[user], &[]).await,
                Err(error) if is_not_modified(&error) => {}
                Err(error) => return Err(error),
            }
        }
        if change.first_name.is_some() || change.last_name.is_some() || change.bio.is_some() {
            let user = self
                .call(&tl::functions::account::UpdateProfile {
                    first_name: change.first_name.clone(),
                    last_name: change.last_name.clone(),
                    about: change.bio.clone(),
                })
                .await?;
            self.remember(&[user], &[]).await;
        }
        self.own_profile().await
    }
}
