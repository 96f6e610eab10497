//! The accounts connected on this replica.

use std::sync::Arc;

use async_trait::async_trait;
use talkapp_store::AccountKey;
use talkapp_telegram::account::Account;
use talkapp_telegram::chat_info::ChatEdit;
use talkapp_telegram::chat_members::MemberChange;
use talkapp_telegram::error::TelegramError;
use talkapp_telegram::groups::{NewGroup, UserRef};
use talkapp_telegram::joins::{
    InviteEdit, InviteLink, InvitePage, InvitePreview, InviteQuery, InviteSettings, JoinOutcome,
    JoinRequestPage, JoinRequestQuery, JoinTarget,
};
use talkapp_telegram::message_actions::PinOptions;
use talkapp_telegram::model::{ChatAction, ChatFullInfo, ChatInfo, TelegramUpdate};
use talkapp_telegram::profiles::UserProfile;
use talkapp_telegram::search::MessageSearch;
use talkapp_telegram::{contact_changes::NewContact, own_profile::ProfileChange};

use super::{
    AccountHost, ContactRef, ForwardRequest, GroupCreated, HostError, InviteCheck, OlderHistory,
    PhotoFile,
};
use crate::cache::{ChatCache, FillError};
use crate::hosted_accounts::{HostedAccounts, HostedUpdate};
use crate::media::{ByteRange, Media, MediaDownload};
use crate::media_files::MediaFiles;
use crate::sends::PinnedSource;
use talkapp_telegram::photos::NewPhoto;
use talkapp_telegram::send_media::{OutgoingFile, SendAs};

/// Most messages one fetch of older history stores when no date is given.
const MAX_OLDER_LIMIT: u32 = 1000;

/// Serves the calls of the accounts this replica hosts, through their connections.
pub struct LocalHost {
    hosted_accounts: Arc<HostedAccounts>,
    cache: ChatCache,
    media: Media,
    files: Arc<dyn MediaFiles>,
}

impl From<FillError> for HostError {
    fn from(error: FillError) -> Self {
        match error {
            FillError::Store(error) => Self::Store(error),
            FillError::Telegram(error) => Self::Telegram(error),
        }
    }
}

impl LocalHost {
    /// Calls through the accounts `hosted_accounts` holds; older history goes into `cache`,
    /// files come through `media`; uploaded files (photos) are read from `files`.
    pub fn new(
        hosted_accounts: Arc<HostedAccounts>,
        cache: ChatCache,
        media: Media,
        files: Arc<dyn MediaFiles>,
    ) -> Self {
        Self {
            hosted_accounts,
            cache,
            media,
            files,
        }
    }

    /// Where a pinned photo's bytes come from, and the file as Telegram gets it.
    fn photo_source(&self, photo: &PhotoFile) -> (OutgoingFile, PinnedSource) {
        let file = OutgoingFile {
            sha256: photo.sha256.clone(),
            size: photo.size,
            file_name: photo.file_name.clone(),
            mime: photo.mime.clone(),
            send_as: SendAs::Photo,
            width: None,
            height: None,
            duration_ms: None,
            waveform: None,
        };
        let source = PinnedSource {
            media: Arc::clone(&self.files),
            job_id: photo.job_id,
            file_ids: vec![photo.file_id],
            // A chat or profile photo is a picture: Telegram makes its own sizes.
            previewed: Vec::new(),
        };
        (file, source)
    }

    /// A chat the account changed: cached as Telegram lists it now (`listed`, or asked
    /// for), and `chat.updated` told to the account's own sockets.
    async fn chat_changed(
        &self,
        key: AccountKey,
        account: &Account,
        chat_id: i64,
        listed: Option<&ChatInfo>,
    ) -> Result<(), HostError> {
        self.cache
            .refresh_chat(key, account, chat_id, listed)
            .await?;
        self.hosted_accounts
            .apply_own_update(own_update(key, TelegramUpdate::ChatChanged { chat_id }))
            .await?;
        Ok(())
    }

    /// The account's connection, when it is connected here.
    fn account(&self, key: AccountKey) -> Result<Account, HostError> {
        self.hosted_accounts
            .account(key)
            .ok_or(HostError::Unavailable)
    }
}

/// An update of the account's own doing, as its host tells it (no users or chats with it).
fn own_update(key: AccountKey, update: TelegramUpdate) -> HostedUpdate {
    HostedUpdate {
        key,
        update,
        users: Vec::new(),
        chats: Vec::new(),
    }
}

#[async_trait]
impl AccountHost for LocalHost {
    async fn send_chat_action(
        &self,
        key: AccountKey,
        chat_id: i64,
        action: ChatAction,
    ) -> Result<(), HostError> {
        Ok(self.account(key)?.set_typing(chat_id, action).await?)
    }

    async fn mark_read(
        &self,
        key: AccountKey,
        chat_id: i64,
        max_id: Option<i32>,
    ) -> Result<(), HostError> {
        // Telegram's max_id 0 reads everything.
        let max_id = max_id.unwrap_or(0).max(0);
        Ok(self.account(key)?.read_history(chat_id, max_id).await?)
    }

    async fn fetch_older_history(
        &self,
        key: AccountKey,
        older: OlderHistory,
    ) -> Result<u32, HostError> {
        let account = self.account(key)?;
        let limit = i32::try_from(older.limit.clamp(1, MAX_OLDER_LIMIT)).unwrap_or(100);
        Ok(self
            .cache
            .fetch_older(
                key,
                &account,
                older.chat_id,
                older.below_id.unwrap_or(0),
                older.down_to_date,
                limit,
            )
            .await?)
    }

    async fn chat_full(&self, key: AccountKey, chat_id: i64) -> Result<ChatFullInfo, HostError> {
        Ok(self.account(key)?.chat_full(chat_id).await?)
    }

    async fn download(
        &self,
        key: AccountKey,
        media_ref: &str,
        range: ByteRange,
    ) -> Result<MediaDownload, HostError> {
        let account = self.account(key)?;
        self.media.download(account, key, media_ref, range).await
    }

    async fn search_messages(
        &self,
        key: AccountKey,
        search: &MessageSearch,
    ) -> Result<Vec<(i64, i32)>, HostError> {
        let page = self.account(key)?.search_messages(search).await?;
        self.cache.store_found(key, &page).await?;
        Ok(page
            .messages
            .iter()
            .map(|message| (message.chat_id, message.id))
            .collect())
    }

    async fn contacts(&self, key: AccountKey) -> Result<Vec<ContactRef>, HostError> {
        let contacts = self.account(key)?.contacts().await?;
        let users: Vec<_> = contacts
            .iter()
            .map(|contact| contact.user.clone())
            .collect();
        self.cache.store_users(key, &users).await?;
        Ok(contacts
            .iter()
            .map(|contact| ContactRef {
                user_id: contact.user.id,
                mutual: contact.mutual,
            })
            .collect())
    }

    async fn create_group(
        &self,
        key: AccountKey,
        new: NewGroup,
    ) -> Result<GroupCreated, HostError> {
        let account = self.account(key)?;
        let created = account.create_group(&new).await?;
        self.cache
            .refresh_chat(key, &account, created.chat.id, Some(&created.chat))
            .await?;
        Ok(GroupCreated {
            chat_id: created.chat.id,
            missing_members: created.missing_members,
        })
    }

    async fn edit_message(
        &self,
        key: AccountKey,
        chat_id: i64,
        message_id: i32,
        text: String,
    ) -> Result<(), HostError> {
        let account = self.account(key)?;
        let message = account.edit_text(chat_id, message_id, &text).await?;
        // The account's update stream brings the edit too (and its event); the cache is
        // written now so the caller reads the edited message.
        self.cache
            .apply(&own_update(key, TelegramUpdate::MessageEdited { message }))
            .await?;
        Ok(())
    }

    async fn pin_message(
        &self,
        key: AccountKey,
        chat_id: i64,
        message_id: i32,
        pin: PinOptions,
    ) -> Result<(), HostError> {
        let account = self.account(key)?;
        // The pin (and a pin's service message) come back through the account's update
        // stream, which updates the cache and tells the account's sockets.
        account
            .pin_message(chat_id, message_id, pin)
            .await
            .map_err(|error| match error {
                TelegramError::Refused { name, .. } if name == "MESSAGE_ID_INVALID" => {
                    HostError::MessageNotFound
                }
                other => HostError::Telegram(other),
            })
    }

    async fn unpin_all_messages(&self, key: AccountKey, chat_id: i64) -> Result<(), HostError> {
        Ok(self.account(key)?.unpin_all_messages(chat_id).await?)
    }

    async fn delete_messages(
        &self,
        key: AccountKey,
        chat_id: i64,
        message_ids: Vec<i32>,
        revoke: bool,
    ) -> Result<(), HostError> {
        let account = self.account(key)?;
        let in_channel = account
            .delete_messages(chat_id, &message_ids, revoke)
            .await?;
        let deleted = own_update(
            key,
            TelegramUpdate::MessagesDeleted {
                chat_id: Some(chat_id),
                message_ids,
            },
        );
        if in_channel {
            // Telegram's answer names the messages: the update stream brings the event.
            self.cache.apply(&deleted).await?;
        } else {
            // It does not for private chats and basic groups: the event is made here.
            self.hosted_accounts.apply_own_update(deleted).await?;
        }
        Ok(())
    }

    async fn forward_messages(
        &self,
        key: AccountKey,
        forward: ForwardRequest,
    ) -> Result<Vec<i32>, HostError> {
        let account = self.account(key)?;
        let copies = account
            .forward_messages(
                forward.from_chat_id,
                &forward.message_ids,
                forward.to_chat_id,
                &forward.random_ids,
                forward.silent,
            )
            .await?;
        let ids = copies.iter().map(|message| message.id).collect();
        // The update stream brings them too (with `message.new`); cached now so the
        // caller reads them.
        for message in copies {
            self.cache
                .apply(&own_update(key, TelegramUpdate::NewMessage { message }))
                .await?;
        }
        Ok(ids)
    }

    async fn user_profile(&self, key: AccountKey, user_id: i64) -> Result<UserProfile, HostError> {
        Ok(self.account(key)?.user_profile(user_id).await?)
    }

    async fn add_member(
        &self,
        key: AccountKey,
        chat_id: i64,
        user: UserRef,
    ) -> Result<i64, HostError> {
        let account = self.account(key)?;
        let user_id = account.add_member(chat_id, &user).await?;
        // The member count and the service message; the member is added either way.
        if let Err(error) = self.cache.refresh_chat(key, &account, chat_id, None).await {
            tracing::info!(%error, chat_id, "chat not refreshed after adding a member");
        }
        Ok(user_id)
    }

    async fn own_profile(&self, key: AccountKey) -> Result<UserProfile, HostError> {
        let profile = self.account(key)?.own_profile().await?;
        self.cache
            .store_users(key, std::slice::from_ref(&profile.user))
            .await?;
        Ok(profile)
    }

    async fn update_own_profile(
        &self,
        key: AccountKey,
        change: ProfileChange,
    ) -> Result<UserProfile, HostError> {
        let profile = self.account(key)?.update_own_profile(&change).await?;
        self.cache
            .store_users(key, std::slice::from_ref(&profile.user))
            .await?;
        Ok(profile)
    }

    async fn add_contact(
        &self,
        key: AccountKey,
        contact: NewContact,
    ) -> Result<ContactRef, HostError> {
        let added = self.account(key)?.add_contact(&contact).await?;
        self.cache
            .store_users(key, std::slice::from_ref(&added.user))
            .await?;
        Ok(ContactRef {
            user_id: added.user.id,
            mutual: added.mutual,
        })
    }

    async fn delete_contact(&self, key: AccountKey, user_id: i64) -> Result<(), HostError> {
        let deleted = self.account(key)?.delete_contact(user_id).await?;
        self.cache
            .store_users(key, std::slice::from_ref(&deleted.user))
            .await?;
        Ok(())
    }

    async fn search_people(
        &self,
        key: AccountKey,
        query: &str,
        limit: i32,
    ) -> Result<Vec<i64>, HostError> {
        let people = self.account(key)?.search_people(query, limit).await?;
        self.cache.store_users(key, &people).await?;
        Ok(people.iter().map(|person| person.id).collect())
    }

    async fn change_members(
        &self,
        key: AccountKey,
        chat_id: i64,
        change: MemberChange,
    ) -> Result<i64, HostError> {
        let account = self.account(key)?;
        let user_id = account.change_members(chat_id, &change).await?;
        let told_here = match change {
            MemberChange::Leave => {
                // A chat left cannot be read from Telegram any more: marked here.
                self.cache.mark_left(key, chat_id).await?;
                Some(TelegramUpdate::ChatChanged { chat_id })
            }
            MemberChange::Remove(_) | MemberChange::SetAdmin { .. } => {
                // The member count and the service message; the change is done either way.
                if let Err(error) = self.cache.refresh_chat(key, &account, chat_id, None).await {
                    tracing::info!(%error, chat_id, "chat not refreshed after a member change");
                }
                matches!(change, MemberChange::Remove(_)).then_some(TelegramUpdate::ChatMember {
                    chat_id,
                    user_id,
                    joined: false,
                })
            }
        };
        // Telegram's answer to the account tells of the chat, not of the member: the
        // account's own sockets hear it from here.
        if let Some(update) = told_here {
            self.hosted_accounts
                .apply_own_update(own_update(key, update))
                .await?;
        }
        Ok(user_id)
    }

    async fn edit_chat(
        &self,
        key: AccountKey,
        chat_id: i64,
        edit: ChatEdit,
    ) -> Result<(), HostError> {
        let account = self.account(key)?;
        if !account.edit_chat(chat_id, &edit).await? {
            return Ok(());
        }
        // Telegram's answer brings the title's service message; the chat's own event
        // (its title, and a description Telegram tells of in no update) is made here.
        self.chat_changed(key, &account, chat_id, None).await
    }

    async fn join_chat(
        &self,
        key: AccountKey,
        target: JoinTarget,
    ) -> Result<Option<i64>, HostError> {
        let account = self.account(key)?;
        let chat = match account.join_chat(&target).await? {
            JoinOutcome::Requested => return Ok(None),
            JoinOutcome::Joined(chat) => chat,
        };
        // Cached now (a chat left before is listed again) so the caller reads it.
        // Telegram's answer tells the account of the chat, its update stream may not
        // (a broadcast channel shows no service message): the sockets hear it from here.
        self.chat_changed(key, &account, chat.id, Some(&chat))
            .await?;
        Ok(Some(chat.id))
    }

    async fn check_invite(&self, key: AccountKey, hash: &str) -> Result<InviteCheck, HostError> {
        let account = self.account(key)?;
        match account.check_invite(hash).await? {
            InvitePreview::Member(chat) => {
                if let Err(error) = self
                    .cache
                    .refresh_chat(key, &account, chat.id, Some(&chat))
                    .await
                {
                    tracing::info!(%error, chat_id = chat.id, "invite's chat not refreshed");
                }
                Ok(InviteCheck::Member(chat.id))
            }
            InvitePreview::Invite {
                title,
                about,
                kind,
                members_count,
                request_needed,
                public,
            } => Ok(InviteCheck::Preview {
                title,
                about,
                kind: kind.as_str().to_owned(),
                members_count,
                request_needed,
                public,
            }),
        }
    }

    async fn export_invite(
        &self,
        key: AccountKey,
        chat_id: i64,
        settings: InviteSettings,
    ) -> Result<InviteLink, HostError> {
        Ok(self.account(key)?.export_invite(chat_id, &settings).await?)
    }

    async fn list_invites(
        &self,
        key: AccountKey,
        chat_id: i64,
        query: InviteQuery,
    ) -> Result<InvitePage, HostError> {
        Ok(self.account(key)?.list_invites(chat_id, &query).await?)
    }

    async fn edit_invite(
        &self,
        key: AccountKey,
        chat_id: i64,
        edit: InviteEdit,
    ) -> Result<InviteLink, HostError> {
        Ok(self.account(key)?.edit_invite(chat_id, &edit).await?)
    }

    async fn join_requests(
        &self,
        key: AccountKey,
        chat_id: i64,
        query: JoinRequestQuery,
    ) -> Result<JoinRequestPage, HostError> {
        Ok(self.account(key)?.join_requests(chat_id, query).await?)
    }

    async fn answer_join_request(
        &self,
        key: AccountKey,
        chat_id: i64,
        user_id: i64,
        approve: bool,
    ) -> Result<(), HostError> {
        let account = self.account(key)?;
        account
            .answer_join_request(chat_id, user_id, approve)
            .await?;
        if !approve {
            return Ok(());
        }
        // A member more: the cached chat (its member count) follows.
        if let Err(error) = self.cache.refresh_chat(key, &account, chat_id, None).await {
            tracing::info!(%error, chat_id, "chat not refreshed after an approval");
        }
        Ok(())
    }

    async fn set_chat_photo(
        &self,
        key: AccountKey,
        chat_id: i64,
        photo: Option<PhotoFile>,
    ) -> Result<(), HostError> {
        let account = self.account(key)?;
        let changed = match &photo {
            Some(photo) => {
                let (file, source) = self.photo_source(photo);
                let new = NewPhoto {
                    file: &file,
                    source: &source,
                };
                account.set_chat_photo(chat_id, Some(new)).await?
            }
            None => account.set_chat_photo(chat_id, None).await?,
        };
        if !changed {
            return Ok(());
        }
        // As for a title: the account's own sockets hear of the chat from here.
        self.chat_changed(key, &account, chat_id, None).await
    }

    async fn set_own_photo(
        &self,
        key: AccountKey,
        photo: Option<PhotoFile>,
    ) -> Result<UserProfile, HostError> {
        let account = self.account(key)?;
        let profile = match &photo {
            Some(photo) => {
                let (file, source) = self.photo_source(photo);
                account
                    .set_own_photo(NewPhoto {
                        file: &file,
                        source: &source,
                    })
                    .await?
            }
            None => account.delete_own_photo().await?,
        };
        self.cache
            .store_users(key, std::slice::from_ref(&profile.user))
            .await?;
        Ok(profile)
    }
}
