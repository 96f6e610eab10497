//! The account's own profile (read and changed) and its contacts (added and deleted),
//! through the account's host. A profile change is followed by the linked account's
//! names in the store (what `GET /me/sessions` shows); adding a contact is done once per
//! idempotency key (ADR 0021).
//!
//! Not done: following a change made on another device (Telegram's `updateUserName` is
//! not applied to the linked account's names; the next read of the own profile does it).

use talkapp_store::{AccountKey, StoreError};
use talkapp_telegram::profiles::UserProfile;
use talkapp_telegram::search::Contact;

use super::{ChatError, ChatService};
use crate::cache::user_from_record;
use crate::profile_edits::{new_contact, profile_change};

/// What a finished `add_contact` keeps for its retries.
#[derive(serde::Serialize, serde::Deserialize)]
struct AddContactOutcome {
    user_id: i64,
    mutual: bool,
}

/// The fields of a profile change, as the caller gave them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProfileFields<'a> {
    /// The first name.
    pub first_name: Option<&'a str>,
    /// The last name (empty: none).
    pub last_name: Option<&'a str>,
    /// The bio (empty: none).
    pub bio: Option<&'a str>,
    /// The username (empty: none).
    pub username: Option<&'a str>,
}

impl ChatService {
    /// The account's own profile, asked of Telegram through the account's host; the
    /// linked account's names follow what Telegram has.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn own_profile(&self, key: AccountKey) -> Result<UserProfile, ChatError> {
        let profile = self.router.host_of(key)?.own_profile(key).await?;
        self.follow_names(key, &profile).await?;
        Ok(profile)
    }

    /// Changes the account's names, bio and username through the account's host
    /// (checked against Telegram's limits first); answers the profile as it is now.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn update_own_profile(
        &self,
        key: AccountKey,
        fields: ProfileFields<'_>,
    ) -> Result<UserProfile, ChatError> {
        let change = profile_change(
            fields.first_name,
            fields.last_name,
            fields.bio,
            fields.username,
        )
        .map_err(ChatError::InvalidArgument)?;
        let profile = self
            .router
            .host_of(key)?
            .update_own_profile(key, change)
            .await?;
        self.follow_names(key, &profile).await?;
        Ok(profile)
    }

    /// Keeps the linked account's names (shown by the list of linked accounts) as
    /// Telegram has them.
    pub(super) async fn follow_names(
        &self,
        key: AccountKey,
        profile: &UserProfile,
    ) -> Result<(), ChatError> {
        let user = &profile.user;
        self.store
            .set_account_names(
                key.user_id,
                key.session_index,
                &user.first_name,
                &user.last_name,
                &user.username,
            )
            .await?;
        Ok(())
    }

    /// Adds a contact by phone, Telegram user id or username, saved under the names
    /// given, through the account's host; answers them as the contact list shows them.
    /// The same idempotency key gives the first result again.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn add_contact(
        &self,
        key: AccountKey,
        user: &str,
        first_name: &str,
        last_name: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Contact, ChatError> {
        let contact =
            new_contact(user, first_name, last_name).map_err(ChatError::InvalidArgument)?;
        let idempotency_key =
            crate::groups::idempotency_key(idempotency_key).map_err(ChatError::InvalidArgument)?;
        let user_text = crate::groups::member_text(&contact.user);
        let digest =
            crate::groups::request_digest(&[&user_text, &contact.first_name, &contact.last_name]);
        let outcome = self
            .once(
                key,
                idempotency_key.as_deref(),
                "add_contact",
                digest,
                || async {
                    let added = self.router.host_of(key)?.add_contact(key, contact).await?;
                    serde_json::to_string(&AddContactOutcome {
                        user_id: added.user_id,
                        mutual: added.mutual,
                    })
                    .map_err(|error| ChatError::Store(StoreError::Internal(error.to_string())))
                },
            )
            .await?;
        let outcome: AddContactOutcome = serde_json::from_str(&outcome)
            .map_err(|error| StoreError::Internal(format!("a kept add_contact result: {error}")))?;
        let users = self.cached_users_by_id(key, &[outcome.user_id]).await?;
        let user = users.get(&outcome.user_id).ok_or_else(|| {
            StoreError::Internal("the contact just added is not in the cache".into())
        })?;
        Ok(Contact {
            user: user_from_record(user),
            mutual: outcome.mutual,
        })
    }

    /// Deletes a contact (a user the account has met) through the account's host.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn delete_contact(
        &self,
        key: AccountKey,
        telegram_user_id: &str,
    ) -> Result<(), ChatError> {
        let user_id = super::parse_user_id(telegram_user_id)?;
        Ok(self
            .router
            .host_of(key)?
            .delete_contact(key, user_id)
            .await?)
    }
}
