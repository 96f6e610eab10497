//! A peer replica that hosts an account, reached over the internal
//! `talkapp.chat.v1.AccountHost` gRPC service; and the mapping of [`HostError`] to gRPC
//! statuses and back, so a host's error code reaches the caller unchanged.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use talkapp_common::ErrorCode;
use talkapp_common::grpc::TraceContextInterceptor;
use talkapp_proto::chat::v1 as proto;
use talkapp_proto::chat::v1::account_host_client::AccountHostClient;
use talkapp_proto::tonic::codegen::InterceptedService;
use talkapp_proto::tonic::transport::{Channel, Endpoint};
use talkapp_proto::tonic::{self, Code, Status};
use talkapp_store::SessionKey;
use talkapp_telegram::chat_info::ChatEdit;
use talkapp_telegram::chat_members::MemberChange;
use talkapp_telegram::groups::{NewGroup, UserRef};
use talkapp_telegram::joins::{InviteLink, InviteSettings, JoinTarget};
use talkapp_telegram::message_actions::PinOptions;
use talkapp_telegram::model::{ChatAction, ChatFullInfo};
use talkapp_telegram::profiles::UserProfile;
use talkapp_telegram::search::MessageSearch;
use talkapp_telegram::{contact_changes::NewContact, own_profile::ProfileChange};

use super::{
    AccountHost, ContactRef, ForwardRequest, GroupCreated, HostError, InviteCheck, OlderHistory,
    PhotoFile,
};
use crate::actions::action_name;
use crate::groups::{kind_name, member_text};
use crate::media::{ByteRange, MediaDownload};
use crate::proto_views::{file_header_from_proto, member_change_to_proto};

/// How long a peer may take to accept a connection before the account counts as
/// unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Bounds every unary call to a peer (a download's stream is bounded per message).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A peer replica, for the accounts it hosts.
pub struct RemoteHost {
    client: AccountHostClient<InterceptedService<Channel, TraceContextInterceptor>>,
}

impl RemoteHost {
    /// A client of the replica at `address` (`http://host:port`), connected on first use.
    pub fn connect_lazy(address: &str) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(address.to_owned())?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            // Replies span several segments; without it each waits for a delayed ACK.
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(Self {
            client: AccountHostClient::with_interceptor(channel, TraceContextInterceptor),
        })
    }

    fn client(&self) -> AccountHostClient<InterceptedService<Channel, TraceContextInterceptor>> {
        self.client.clone()
    }
}

/// The account's reference on the wire.
pub fn session_ref(key: SessionKey) -> proto::SessionRef {
    proto::SessionRef {
        user_id: key.user_id.to_string(),
        session_index: key.session_index,
    }
}

/// A host's error as a gRPC status: its code (and the seconds to wait) in the metadata;
/// a 500's details stay in the log.
pub fn to_status(error: &HostError) -> Status {
    let (code, retry_after) = error.code();
    let message = if code == ErrorCode::Internal {
        tracing::warn!(%error, "account host call failed");
        "internal error".to_owned()
    } else {
        error.to_string()
    };
    match retry_after {
        Some(seconds) => code.to_grpc_status_with_retry(message, seconds),
        None => code.to_grpc_status(message),
    }
}

/// A status from a peer as a [`HostError`]: the peer's own code when it sent one; a peer
/// that could not be reached at all is [`HostError::Unavailable`].
pub fn from_status(status: &Status) -> HostError {
    let coded = status
        .metadata()
        .contains_key(talkapp_common::error_code::ERROR_CODE_METADATA_KEY);
    if !coded
        && matches!(
            status.code(),
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled
        )
    {
        return HostError::Unavailable;
    }
    HostError::Remote {
        code: ErrorCode::from_grpc_status(status),
        message: status.message().to_owned(),
        retry_after: talkapp_common::error_code::retry_after_secs(status),
    }
}

/// A pinned photo file on the wire.
fn photo_to_proto(photo: PhotoFile) -> proto::HostPhotoFile {
    proto::HostPhotoFile {
        job_id: photo.job_id.to_string(),
        file_id: photo.file_id.to_string(),
        sha256: photo.sha256,
        size: photo.size,
        mime: photo.mime,
        file_name: photo.file_name,
    }
}

/// A pinned photo file from the wire.
pub(crate) fn photo_from_proto(photo: proto::HostPhotoFile) -> Result<PhotoFile, String> {
    let uuid = |field: &str, value: &str| {
        uuid::Uuid::parse_str(value).map_err(|_| format!("{field} must be a UUID"))
    };
    Ok(PhotoFile {
        job_id: uuid("job_id", &photo.job_id)?,
        file_id: uuid("file_id", &photo.file_id)?,
        sha256: photo.sha256,
        size: photo.size,
        mime: photo.mime,
        file_name: photo.file_name,
    })
}

#[async_trait]
impl AccountHost for RemoteHost {
    async fn send_chat_action(
        &self,
        key: SessionKey,
        chat_id: i64,
        action: ChatAction,
    ) -> Result<(), HostError> {
        self.client()
            .send_chat_action(proto::SendChatActionRequest {
                session: Some(session_ref(key)),
                chat_id: chat_id.to_string(),
                action: action_name(action).to_owned(),
            })
            .await
            .map_err(|status| from_status(&status))?;
        Ok(())
    }

    async fn mark_read(&self, key: SessionKey, chat_id: i64, max_id: i32) -> Result<(), HostError> {
        self.client()
            .mark_read(proto::MarkReadRequest {
                session: Some(session_ref(key)),
                chat_id: chat_id.to_string(),
                max_id,
            })
            .await
            .map_err(|status| from_status(&status))?;
        Ok(())
    }

    async fn fetch_older_history(
        &self,
        key: SessionKey,
        older: OlderHistory,
    ) -> Result<u32, HostError> {
        let reply = self
            .client()
            .fetch_older_history(proto::FetchOlderHistoryRequest {
                session: Some(session_ref(key)),
                chat_id: older.chat_id,
                below_id: older.below_id,
                down_to_date: older.down_to_date,
                limit: older.limit,
            })
            .await
            .map_err(|status| from_status(&status))?;
        Ok(reply.into_inner().stored)
    }

    async fn chat_full(&self, key: SessionKey, chat_id: i64) -> Result<ChatFullInfo, HostError> {
        let details = self
            .client()
            .fetch_chat_details(proto::FetchChatDetailsRequest {
                session: Some(session_ref(key)),
                chat_id,
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        Ok(ChatFullInfo {
            about: details.about,
            members_count: details.members_count,
            online_count: details.online_count,
            pinned_message_id: details.pinned_message_id,
            linked_chat_id: details.linked_chat_id,
        })
    }

    async fn download(
        &self,
        key: SessionKey,
        media_ref: &str,
        range: ByteRange,
    ) -> Result<MediaDownload, HostError> {
        let mut stream = self
            .client()
            .download_media(proto::DownloadMediaRequest {
                session: Some(session_ref(key)),
                media_ref: media_ref.to_owned(),
                offset: range.offset,
                length: range.length.unwrap_or(0),
                suffix: range.suffix.unwrap_or(0),
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        let first = stream
            .message()
            .await
            .map_err(|status| from_status(&status))?
            .ok_or(HostError::Unavailable)?;
        let header = first
            .header
            .as_ref()
            .map(file_header_from_proto)
            .ok_or_else(|| HostError::Remote {
                code: ErrorCode::Internal,
                message: "the account's host sent no header".into(),
                retry_after: None,
            })?;
        let first_data = (!first.data.is_empty()).then_some(first.data);
        let rest = stream.map(|chunk| {
            chunk
                .map(|chunk| chunk.data)
                .map_err(|status| from_status(&status))
        });
        let chunks = futures::stream::iter(first_data.map(Ok)).chain(rest);
        Ok(MediaDownload {
            header,
            chunks: Box::pin(chunks),
        })
    }

    async fn create_group(
        &self,
        key: SessionKey,
        new: NewGroup,
    ) -> Result<GroupCreated, HostError> {
        let reply = self
            .client()
            .create_group(proto::HostCreateGroupRequest {
                session: Some(session_ref(key)),
                title: new.title,
                kind: kind_name(new.kind).to_owned(),
                about: new.about,
                members: new.members.iter().map(member_text).collect(),
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        Ok(GroupCreated {
            chat_id: reply.chat_id,
            missing_members: reply.missing_members,
        })
    }

    async fn edit_message(
        &self,
        key: SessionKey,
        chat_id: i64,
        message_id: i32,
        text: String,
    ) -> Result<(), HostError> {
        self.client()
            .edit_message(proto::HostEditMessageRequest {
                session: Some(session_ref(key)),
                chat_id,
                message_id,
                text,
            })
            .await
            .map_err(|status| from_status(&status))?;
        Ok(())
    }

    async fn pin_message(
        &self,
        key: SessionKey,
        chat_id: i64,
        message_id: i32,
        pin: PinOptions,
    ) -> Result<(), HostError> {
        self.client()
            .pin_message(proto::HostPinMessageRequest {
                session: Some(session_ref(key)),
                chat_id,
                message_id,
                unpin: pin.unpin,
                silent: pin.silent,
                one_side: pin.one_side,
            })
            .await
            .map_err(|status| from_status(&status))?;
        Ok(())
    }

    async fn unpin_all_messages(&self, key: SessionKey, chat_id: i64) -> Result<(), HostError> {
        self.client()
            .unpin_all_messages(proto::HostUnpinAllMessagesRequest {
                session: Some(session_ref(key)),
                chat_id,
            })
            .await
            .map_err(|status| from_status(&status))?;
        Ok(())
    }

    async fn delete_messages(
        &self,
        key: SessionKey,
        chat_id: i64,
        message_ids: Vec<i32>,
        revoke: bool,
    ) -> Result<(), HostError> {
        self.client()
            .delete_messages(proto::HostDeleteMessagesRequest {
                session: Some(session_ref(key)),
                chat_id,
                message_ids,
                revoke,
            })
            .await
            .map_err(|status| from_status(&status))?;
        Ok(())
    }

    async fn forward_messages(
        &self,
        key: SessionKey,
        forward: ForwardRequest,
    ) -> Result<Vec<i32>, HostError> {
        let reply = self
            .client()
            .forward_messages(proto::HostForwardMessagesRequest {
                session: Some(session_ref(key)),
                from_chat_id: forward.from_chat_id,
                message_ids: forward.message_ids,
                to_chat_id: forward.to_chat_id,
                random_ids: forward.random_ids,
                silent: forward.silent,
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        Ok(reply.message_ids)
    }

    async fn user_profile(&self, key: SessionKey, user_id: i64) -> Result<UserProfile, HostError> {
        let reply = self
            .client()
            .fetch_user_profile(proto::FetchUserProfileRequest {
                session: Some(session_ref(key)),
                user_id,
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        Ok(crate::profiles::from_host_proto(reply))
    }

    async fn add_member(
        &self,
        key: SessionKey,
        chat_id: i64,
        user: UserRef,
    ) -> Result<i64, HostError> {
        let reply = self
            .client()
            .add_member(proto::HostAddMemberRequest {
                session: Some(session_ref(key)),
                chat_id,
                user: member_text(&user),
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        Ok(reply.user_id)
    }

    async fn change_members(
        &self,
        key: SessionKey,
        chat_id: i64,
        change: MemberChange,
    ) -> Result<i64, HostError> {
        let (action, user) = member_change_to_proto(&change);
        let reply = self
            .client()
            .change_members(proto::HostChangeMembersRequest {
                session: Some(session_ref(key)),
                chat_id,
                action: action.into(),
                user,
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        Ok(reply.user_id)
    }

    async fn edit_chat(
        &self,
        key: SessionKey,
        chat_id: i64,
        edit: ChatEdit,
    ) -> Result<(), HostError> {
        self.client()
            .edit_chat(proto::HostEditChatRequest {
                session: Some(session_ref(key)),
                chat_id,
                title: edit.title,
                about: edit.about,
            })
            .await
            .map_err(|status| from_status(&status))?;
        Ok(())
    }

    async fn join_chat(
        &self,
        key: SessionKey,
        target: JoinTarget,
    ) -> Result<Option<i64>, HostError> {
        let (username, invite_hash) = match target {
            JoinTarget::Username(username) => (Some(username), None),
            JoinTarget::InviteHash(hash) => (None, Some(hash)),
        };
        let reply = self
            .client()
            .join_chat(proto::HostJoinChatRequest {
                session: Some(session_ref(key)),
                username,
                invite_hash,
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        Ok(reply.chat_id)
    }

    async fn check_invite(&self, key: SessionKey, hash: &str) -> Result<InviteCheck, HostError> {
        let reply = self
            .client()
            .check_invite(proto::HostCheckInviteRequest {
                session: Some(session_ref(key)),
                invite_hash: hash.to_owned(),
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        Ok(match reply.member_of {
            Some(chat_id) => InviteCheck::Member(chat_id),
            None => InviteCheck::Preview {
                title: reply.title,
                about: reply.about,
                kind: reply.kind,
                members_count: reply.members_count,
                request_needed: reply.request_needed,
                public: reply.public,
            },
        })
    }

    async fn export_invite(
        &self,
        key: SessionKey,
        chat_id: i64,
        settings: InviteSettings,
    ) -> Result<InviteLink, HostError> {
        let reply = self
            .client()
            .export_invite(proto::HostExportInviteRequest {
                session: Some(session_ref(key)),
                chat_id,
                expire_date: settings.expire_date,
                usage_limit: settings.usage_limit,
                title: settings.title,
                request_needed: settings.request_needed,
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        Ok(invite_link_from_proto(reply))
    }

    async fn set_chat_photo(
        &self,
        key: SessionKey,
        chat_id: i64,
        photo: Option<PhotoFile>,
    ) -> Result<(), HostError> {
        self.client()
            .set_chat_photo(proto::HostSetChatPhotoRequest {
                session: Some(session_ref(key)),
                chat_id,
                photo: photo.map(photo_to_proto),
            })
            .await
            .map_err(|status| from_status(&status))?;
        Ok(())
    }

    async fn set_own_photo(
        &self,
        key: SessionKey,
        photo: Option<PhotoFile>,
    ) -> Result<UserProfile, HostError> {
        let reply = self
            .client()
            .set_own_photo(proto::HostSetOwnPhotoRequest {
                session: Some(session_ref(key)),
                photo: photo.map(photo_to_proto),
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        Ok(crate::profiles::from_host_proto(reply))
    }

    async fn search_messages(
        &self,
        key: SessionKey,
        search: &MessageSearch,
    ) -> Result<Vec<(i64, i32)>, HostError> {
        let reply = self
            .client()
            .search_telegram_messages(search_request(key, search))
            .await
            .map_err(|status| from_status(&status))?;
        Ok(reply
            .into_inner()
            .messages
            .into_iter()
            .map(|found| (found.chat_id, found.message_id))
            .collect())
    }

    async fn contacts(&self, key: SessionKey) -> Result<Vec<ContactRef>, HostError> {
        let reply = self
            .client()
            .list_contacts(proto::ListContactsRequest {
                session: Some(session_ref(key)),
            })
            .await
            .map_err(|status| from_status(&status))?;
        Ok(reply
            .into_inner()
            .contacts
            .into_iter()
            .map(|contact| ContactRef {
                user_id: contact.user_id,
                mutual: contact.mutual,
            })
            .collect())
    }

    async fn own_profile(&self, key: SessionKey) -> Result<UserProfile, HostError> {
        let reply = self
            .client()
            .fetch_own_profile(proto::FetchOwnProfileRequest {
                session: Some(session_ref(key)),
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        Ok(crate::profiles::from_host_proto(reply))
    }

    async fn update_own_profile(
        &self,
        key: SessionKey,
        change: ProfileChange,
    ) -> Result<UserProfile, HostError> {
        let reply = self
            .client()
            .update_own_profile(proto::HostUpdateOwnProfileRequest {
                session: Some(session_ref(key)),
                first_name: change.first_name,
                last_name: change.last_name,
                bio: change.bio,
                username: change.username,
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        Ok(crate::profiles::from_host_proto(reply))
    }

    async fn add_contact(
        &self,
        key: SessionKey,
        contact: NewContact,
    ) -> Result<ContactRef, HostError> {
        let reply = self
            .client()
            .add_contact(proto::HostAddContactRequest {
                session: Some(session_ref(key)),
                user: member_text(&contact.user),
                first_name: contact.first_name,
                last_name: contact.last_name,
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        Ok(ContactRef {
            user_id: reply.user_id,
            mutual: reply.mutual,
        })
    }

    async fn delete_contact(&self, key: SessionKey, user_id: i64) -> Result<(), HostError> {
        self.client()
            .delete_contact(proto::HostDeleteContactRequest {
                session: Some(session_ref(key)),
                user_id,
            })
            .await
            .map_err(|status| from_status(&status))?;
        Ok(())
    }

    async fn search_people(
        &self,
        key: SessionKey,
        query: &str,
        limit: i32,
    ) -> Result<Vec<i64>, HostError> {
        let reply = self
            .client()
            .search_people(proto::HostSearchPeopleRequest {
                session: Some(session_ref(key)),
                query: query.to_owned(),
                limit,
            })
            .await
            .map_err(|status| from_status(&status))?
            .into_inner();
        Ok(reply.user_ids)
    }
}

/// An invite link from the wire.
pub fn invite_link_from_proto(link: proto::HostInviteLink) -> InviteLink {
    InviteLink {
        link: link.link,
        admin_id: link.admin_id,
        date: link.date,
        expire_date: link.expire_date,
        usage_limit: link.usage_limit,
        usage: link.usage,
        title: link.title,
        request_needed: link.request_needed,
        revoked: link.revoked,
        permanent: link.permanent,
    }
}

/// An invite link on the wire.
pub fn invite_link_to_proto(link: InviteLink) -> proto::HostInviteLink {
    proto::HostInviteLink {
        link: link.link,
        admin_id: link.admin_id,
        date: link.date,
        expire_date: link.expire_date,
        usage_limit: link.usage_limit,
        usage: link.usage,
        title: link.title,
        request_needed: link.request_needed,
        revoked: link.revoked,
        permanent: link.permanent,
    }
}

/// What an invite link shows, on the wire.
pub fn invite_check_to_proto(check: InviteCheck) -> proto::HostInvitePreview {
    match check {
        InviteCheck::Member(chat_id) => proto::HostInvitePreview {
            member_of: Some(chat_id),
            ..proto::HostInvitePreview::default()
        },
        InviteCheck::Preview {
            title,
            about,
            kind,
            members_count,
            request_needed,
            public,
        } => proto::HostInvitePreview {
            member_of: None,
            title,
            about,
            kind,
            members_count,
            request_needed,
            public,
        },
    }
}

/// A Telegram search on the wire.
pub fn search_request(
    key: SessionKey,
    search: &MessageSearch,
) -> proto::SearchTelegramMessagesRequest {
    proto::SearchTelegramMessagesRequest {
        session: Some(session_ref(key)),
        query: search.text.clone(),
        chat_id: search.chat_id,
        from_date: search.from_date,
        to_date: search.to_date,
        sender_id: search.sender_id,
        filter: search.filter.map(|filter| filter.name().to_owned()),
        limit: u32::try_from(search.limit).unwrap_or(0),
    }
}
