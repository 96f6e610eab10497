//! Every account-host call on the wire, converted in one place and used by both ends
//! ([`super::calls`] declares the calls):
//!
//! - [`HostRequest`]: a call's arguments (past the account) into its proto request, for
//!   the caller ([`super::RemoteHost`]), and back, checked again, for the host
//!   ([`super::AccountHostGrpcAdapter`]).
//! - [`HostAnswer`]: a call's answer into its proto response, for the host, and back,
//!   for the caller.
//! - [`to_status`] and [`from_status`]: a [`HostError`] into a gRPC status and back, so a
//!   host's error code reaches the caller unchanged.
//!
//! The conversions are traits of this crate, not `From` / `TryFrom`: the proto messages
//! and the domain's types both live in other crates, and Rust allows no `From` between
//! two foreign types.
//!
//! Where a proto message carries the same fields as a domain type (or as the call's
//! arguments), [`mirrored_requests!`] and [`mirrored_answers!`] write both directions
//! from one list of the fields. A call that takes ChatService's request (ADR 0046) packs
//! its ids as ChatService's decimal strings and parses them back as ChatService does;
//! its idempotency key stays unset (the replica that took the call keeps it).

use futures::StreamExt as _;
use talkapp_common::ErrorCode;
use talkapp_proto::chat::v1 as proto;
use talkapp_proto::tonic::{Code, Status};
use talkapp_store::AccountKey;
use talkapp_telegram::chat_info::ChatEdit;
use talkapp_telegram::chat_members::MemberChange;
use talkapp_telegram::groups::{NewGroup, UserRef};
use talkapp_telegram::joins::{
    InviteEdit, InviteLink, InvitePage, InviteQuery, InviteSettings, JoinRequest, JoinRequestPage,
    JoinRequestQuery, JoinTarget,
};
use talkapp_telegram::message_actions::PinOptions;
use talkapp_telegram::model::{ChatAction, ChatFullInfo};
use talkapp_telegram::profiles::UserProfile;
use talkapp_telegram::search::{MessageSearch, SearchFilter, SearchOffset};
use talkapp_telegram::{contact_changes::NewContact, own_profile::ProfileChange};

use super::{
    ContactRef, ForwardRequest, GroupCreated, HostError, InviteCheck, OlderHistory, PhotoFile,
};
use crate::actions::{action_name, parse_action};
use crate::groups::{kind_name, member_text};
use crate::media::{ByteRange, MediaDownload};
use crate::proto_views::{file_header_to_proto, member_change_from_proto, member_change_to_proto};
use crate::service::{parse_chat_id, parse_user_id};

/// A call's proto request: the account, and the call's arguments after it.
pub trait HostRequest: Sized {
    /// The arguments after the account, owned, in the order the call takes them.
    type Args;
    /// The request of `account` to its host.
    fn pack(account: proto::AccountRef, args: Self::Args) -> Self;
    /// The arguments, checked again from the wire (the replica that took the request
    /// checked them first); a bad one is `validation_failed`. The host takes the account
    /// out of the request before.
    fn unpack(self) -> Result<Self::Args, Status>;
}

/// A call's proto response and the answer it carries.
pub trait HostAnswer: Sized {
    /// The answer, as the domain has it.
    type Answer;
    /// The answer on the wire.
    fn pack(answer: Self::Answer) -> Self;
    /// The answer from the wire.
    fn unpack(self) -> Self::Answer;
}

/// The account's reference on the wire.
pub fn account_ref(key: AccountKey) -> proto::AccountRef {
    proto::AccountRef {
        user_id: key.user_id.to_string(),
        session_index: key.session_index,
    }
}

/// The account a host call names (parsed only: the host answers `Unavailable` for an
/// account it does not host, whether or not it exists).
pub fn account_key(account: Option<proto::AccountRef>) -> Result<AccountKey, Status> {
    let account = account.ok_or_else(|| invalid("account is required"))?;
    Ok(AccountKey {
        user_id: uuid::Uuid::parse_str(&account.user_id)
            .map_err(|_| invalid("user_id must be a UUID"))?,
        session_index: account.session_index,
    })
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

/// A request the host does not accept.
fn invalid(reason: impl Into<String>) -> Status {
    ErrorCode::ValidationFailed.to_grpc_status(reason)
}

/// A chat id from a ChatService message, parsed as ChatService parses it.
fn chat_id(value: &str) -> Result<i64, Status> {
    parse_chat_id(value).map_err(|error| invalid(error.to_string()))
}

/// A Telegram user id from a ChatService message, parsed as ChatService parses it.
fn user_id(value: &str) -> Result<i64, Status> {
    parse_user_id(value).map_err(|error| invalid(error.to_string()))
}

/// Implements [`HostRequest`] for requests that carry the call's arguments as they are:
/// `Request { argument: Type, ... }` (each field named as the proto names it), then
/// optionally `+ Domain { field, ... }`, a last argument of a domain type whose fields
/// the request carries under the same names. The patterns are exhaustive: a field added
/// on one side and not the other does not compile.
macro_rules! mirrored_requests {
    ($(
        $request:ident { $($field:ident: $ty:ty),* }
            $(+ $domain:ident { $($domain_field:ident),* })?;
    )*) => {$(
        impl HostRequest for proto::$request {
            type Args = ($($ty,)* $($domain,)?);

            fn pack(
                account: proto::AccountRef,
                ($($field,)* $($domain { $($domain_field),* },)?): Self::Args,
            ) -> Self {
                Self {
                    account: Some(account),
                    $($field,)*
                    $($($domain_field,)*)?
                }
            }

            fn unpack(self) -> Result<Self::Args, Status> {
                let Self { account: _, $($field,)* $($($domain_field,)*)? } = self;
                Ok(($($field,)* $($domain { $($domain_field),* },)?))
            }
        }
    )*};
}

/// Implements [`HostAnswer`] for responses that carry an answer as it is: `Response {}`
/// (no answer), `Response { field: Type }` (the answer is that field), or
/// `Response = Domain { field, ... }` (a domain type, field by field; exhaustive both
/// ways), or `Response = Domain { field, ...; each list, ... }` (as the last, and each
/// `list` a list of answers converted item by item: a page).
macro_rules! mirrored_answers {
    () => {};
    ($response:ident = $domain:ident { $($field:ident),*; each $($list:ident),* }; $($rest:tt)*) => {
        impl HostAnswer for proto::$response {
            type Answer = $domain;
            fn pack($domain { $($field,)* $($list),* }: $domain) -> Self {
                Self {
                    $($field,)*
                    $($list: $list.into_iter().map(HostAnswer::pack).collect()),*
                }
            }
            fn unpack(self) -> $domain {
                let Self { $($field,)* $($list),* } = self;
                $domain {
                    $($field,)*
                    $($list: $list.into_iter().map(HostAnswer::unpack).collect()),*
                }
            }
        }
        mirrored_answers!($($rest)*);
    };
    ($response:ident {}; $($rest:tt)*) => {
        impl HostAnswer for proto::$response {
            type Answer = ();
            fn pack((): ()) -> Self {
                Self {}
            }
            fn unpack(self) {}
        }
        mirrored_answers!($($rest)*);
    };
    ($response:ident { $field:ident: $ty:ty }; $($rest:tt)*) => {
        impl HostAnswer for proto::$response {
            type Answer = $ty;
            fn pack($field: $ty) -> Self {
                Self { $field }
            }
            fn unpack(self) -> $ty {
                self.$field
            }
        }
        mirrored_answers!($($rest)*);
    };
    ($response:ident = $domain:ident { $($field:ident),* }; $($rest:tt)*) => {
        impl HostAnswer for proto::$response {
            type Answer = $domain;
            fn pack($domain { $($field),* }: $domain) -> Self {
                Self { $($field),* }
            }
            fn unpack(self) -> $domain {
                let Self { $($field),* } = self;
                $domain { $($field),* }
            }
        }
        mirrored_answers!($($rest)*);
    };
}

mirrored_requests! {
    FetchOlderHistoryRequest {} + OlderHistory { chat_id, below_id, down_to_date, limit };
    FetchChatDetailsRequest { chat_id: i64 };
    ListContactsRequest {};
    HostForwardMessagesRequest {}
        + ForwardRequest { from_chat_id, message_ids, to_chat_id, random_ids, silent };
    GetOwnProfileRequest {};
    HostCheckInviteRequest { invite_hash: String };
    HostExportInviteRequest { chat_id: i64 }
        + InviteSettings { expire_date, usage_limit, title, request_needed };
    HostListInvitesRequest { chat_id: i64 }
        + InviteQuery { revoked, offset_date, offset_hash, limit };
    HostEditInviteRequest { chat_id: i64 }
        + InviteEdit { hash, revoke, expire_date, usage_limit, title, request_needed };
    HostListJoinRequestsRequest { chat_id: i64 }
        + JoinRequestQuery { offset_date, offset_user, limit };
}

/// Implements [`HostRequest`] for ChatService requests whose first argument is an id, sent
/// as ChatService's decimal string and parsed back by `parse` as ChatService parses it,
/// and whose other arguments, if any, are carried as they are: `Request { field: parse,
/// argument: Type, ... }`. The struct literal is exhaustive: a field added to the request
/// does not compile here.
macro_rules! id_requests {
    ($($request:ident { $field:ident: $parse:ident $(, $argument:ident: $ty:ty)* };)*) => {$(
        impl HostRequest for proto::$request {
            type Args = (i64, $($ty,)*);

            fn pack(account: proto::AccountRef, (id, $($argument,)*): Self::Args) -> Self {
                Self {
                    account: Some(account),
                    $field: id.to_string(),
                    $($argument,)*
                }
            }

            fn unpack(self) -> Result<Self::Args, Status> {
                Ok(($parse(&self.$field)?, $(self.$argument,)*))
            }
        }
    )*};
}

id_requests! {
    UnpinAllMessagesRequest { chat_id: chat_id };
    GetUserProfileRequest { telegram_user_id: user_id };
    DeleteContactRequest { telegram_user_id: user_id };
    MarkReadRequest { chat_id: chat_id, max_id: Option<i32> };
    EditMessageRequest { chat_id: chat_id, message_id: i32, text: String };
    DeleteMessagesRequest { chat_id: chat_id, message_ids: Vec<i32>, for_everyone: bool };
}

mirrored_answers! {
    SendChatActionResponse {};
    MarkReadResponse {};
    HostDone {};
    DeleteMessagesResponse {};
    PinMessageResponse {};
    UnpinAllMessagesResponse {};
    DeleteContactResponse {};
    FetchOlderHistoryResponse { stored: u32 };
    HostForwardMessagesResponse { message_ids: Vec<i32> };
    HostAddMemberResponse { user_id: i64 };
    HostChangeMembersResponse { user_id: i64 };
    HostSearchPeopleResponse { user_ids: Vec<i64> };
    HostJoinChatResponse { chat_id: Option<i64> };
    TelegramChatDetails = ChatFullInfo {
        about, members_count, online_count, pinned_message_id, linked_chat_id
    };
    HostCreateGroupResponse = GroupCreated { chat_id, missing_members };
    ContactRef = ContactRef { user_id, mutual };
    HostInviteLink = InviteLink {
        link, admin_id, date, expire_date, usage_limit, usage, title, request_needed,
        revoked, permanent, requested
    };
    HostJoinRequest = JoinRequest {
        user_id, date, about, first_name, last_name, username
    };
    HostInvitePage = InvitePage { count; each links };
    HostJoinRequestPage = JoinRequestPage { count; each requests };
}

impl HostRequest for proto::SendChatActionRequest {
    type Args = (i64, ChatAction);

    fn pack(account: proto::AccountRef, (chat_id, action): Self::Args) -> Self {
        Self {
            account: Some(account),
            chat_id: chat_id.to_string(),
            action: action_name(action).to_owned(),
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        let chat_id = chat_id(&self.chat_id)?;
        let action = parse_action(&self.action).ok_or_else(|| invalid("unknown chat action"))?;
        Ok((chat_id, action))
    }
}

impl HostRequest for proto::DownloadMediaRequest {
    type Args = (String, ByteRange);

    fn pack(account: proto::AccountRef, (media_ref, range): Self::Args) -> Self {
        Self {
            account: Some(account),
            media_ref,
            offset: range.offset,
            length: range.length.unwrap_or(0),
            suffix: range.suffix.unwrap_or(0),
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        let range = byte_range(&self);
        Ok((self.media_ref, range))
    }
}

impl HostRequest for proto::SearchTelegramMessagesRequest {
    type Args = (MessageSearch,);

    fn pack(account: proto::AccountRef, (search,): Self::Args) -> Self {
        Self {
            account: Some(account),
            query: search.text,
            chat_id: search.chat_id,
            from_date: search.from_date,
            to_date: search.to_date,
            sender_id: search.sender_id,
            filter: search.filter.map(|filter| filter.name().to_owned()),
            limit: u32::try_from(search.limit).unwrap_or(0),
            offset: search
                .offset
                .map(|offset| proto::search_telegram_messages_request::Offset {
                    date: offset.date,
                    chat_id: offset.chat_id,
                    message_id: offset.message_id,
                }),
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        Ok((message_search(self)?,))
    }
}

impl HostRequest for proto::CreateGroupRequest {
    type Args = (NewGroup,);

    fn pack(account: proto::AccountRef, (new,): Self::Args) -> Self {
        Self {
            account: Some(account),
            title: new.title,
            kind: kind_name(new.kind).to_owned(),
            about: (!new.about.is_empty()).then_some(new.about),
            members: new.members.iter().map(member_text).collect(),
            idempotency_key: None,
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        let new = crate::groups::new_group(
            &self.title,
            &self.kind,
            self.about.as_deref().unwrap_or_default(),
            &self.members,
        )
        .map_err(invalid)?;
        Ok((new,))
    }
}

impl HostRequest for proto::AddMemberRequest {
    type Args = (i64, UserRef);

    fn pack(account: proto::AccountRef, (chat_id, user): Self::Args) -> Self {
        Self {
            account: Some(account),
            chat_id: chat_id.to_string(),
            user: member_text(&user),
            idempotency_key: None,
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        let user = crate::groups::parse_member(&self.user).map_err(invalid)?;
        Ok((chat_id(&self.chat_id)?, user))
    }
}

impl HostRequest for proto::ChangeMembersRequest {
    type Args = (i64, MemberChange);

    fn pack(account: proto::AccountRef, (chat_id, change): Self::Args) -> Self {
        let (action, user) = member_change_to_proto(&change);
        Self {
            account: Some(account),
            chat_id: chat_id.to_string(),
            action: action.into(),
            user,
            idempotency_key: None,
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        let change =
            member_change_from_proto(self.action, self.user.as_deref()).map_err(invalid)?;
        Ok((chat_id(&self.chat_id)?, change))
    }
}

impl HostRequest for proto::EditChatRequest {
    type Args = (i64, ChatEdit);

    fn pack(account: proto::AccountRef, (chat_id, edit): Self::Args) -> Self {
        Self {
            account: Some(account),
            chat_id: chat_id.to_string(),
            title: edit.title,
            about: edit.about,
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        let edit = crate::groups::chat_edit(self.title, self.about).map_err(invalid)?;
        Ok((chat_id(&self.chat_id)?, edit))
    }
}

impl HostRequest for proto::PinMessageRequest {
    type Args = (i64, i32, PinOptions);

    fn pack(
        account: proto::AccountRef,
        (
            chat_id,
            message_id,
            PinOptions {
                unpin,
                silent,
                one_side,
            },
        ): Self::Args,
    ) -> Self {
        Self {
            account: Some(account),
            chat_id: chat_id.to_string(),
            message_id,
            unpin,
            silent,
            for_me_only: one_side,
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        let pin = PinOptions {
            unpin: self.unpin,
            silent: self.silent,
            one_side: self.for_me_only,
        };
        Ok((chat_id(&self.chat_id)?, self.message_id, pin))
    }
}

impl HostRequest for proto::AnswerJoinRequestRequest {
    type Args = (i64, i64, bool);

    fn pack(account: proto::AccountRef, (chat_id, user_id, approve): Self::Args) -> Self {
        Self {
            account: Some(account),
            chat_id: chat_id.to_string(),
            user: user_id.to_string(),
            approve,
            idempotency_key: None,
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        let user_id = crate::joins::requester(&self.user).map_err(invalid)?;
        Ok((chat_id(&self.chat_id)?, user_id, self.approve))
    }
}

impl HostRequest for proto::UpdateOwnProfileRequest {
    type Args = (ProfileChange,);

    fn pack(account: proto::AccountRef, (change,): Self::Args) -> Self {
        Self {
            account: Some(account),
            first_name: change.first_name,
            last_name: change.last_name,
            bio: change.bio,
            username: change.username,
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        let change = crate::profile_edits::profile_change(
            self.first_name.as_deref(),
            self.last_name.as_deref(),
            self.bio.as_deref(),
            self.username.as_deref(),
        )
        .map_err(invalid)?;
        Ok((change,))
    }
}

impl HostRequest for proto::AddContactRequest {
    type Args = (NewContact,);

    fn pack(account: proto::AccountRef, (contact,): Self::Args) -> Self {
        Self {
            account: Some(account),
            user: member_text(&contact.user),
            first_name: contact.first_name,
            last_name: contact.last_name,
            idempotency_key: None,
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        let contact =
            crate::profile_edits::new_contact(&self.user, &self.first_name, &self.last_name)
                .map_err(invalid)?;
        Ok((contact,))
    }
}

impl HostRequest for proto::HostSearchPeopleRequest {
    type Args = (String, i32);

    fn pack(account: proto::AccountRef, (query, limit): Self::Args) -> Self {
        Self {
            account: Some(account),
            query,
            limit,
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        Ok((self.query, self.limit.clamp(1, 100)))
    }
}

impl HostRequest for proto::HostJoinChatRequest {
    type Args = (JoinTarget,);

    fn pack(account: proto::AccountRef, (target,): Self::Args) -> Self {
        let (username, invite_hash) = match target {
            JoinTarget::Username(username) => (Some(username), None),
            JoinTarget::InviteHash(hash) => (None, Some(hash)),
        };
        Self {
            account: Some(account),
            username,
            invite_hash,
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        let target = match (self.username, self.invite_hash) {
            (Some(username), None) => crate::joins::username(&username)
                .map(JoinTarget::Username)
                .map_err(invalid)?,
            (None, Some(hash)) => crate::joins::invite_hash(&format!("t.me/+{hash}"))
                .map(JoinTarget::InviteHash)
                .map_err(invalid)?,
            _ => return Err(invalid("give a username or an invite hash")),
        };
        Ok((target,))
    }
}

impl HostRequest for proto::HostSetChatPhotoRequest {
    type Args = (i64, Option<PhotoFile>);

    fn pack(account: proto::AccountRef, (chat_id, photo): Self::Args) -> Self {
        Self {
            account: Some(account),
            chat_id,
            photo: photo.map(photo_to_proto),
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        Ok((self.chat_id, photo_from_proto(self.photo)?))
    }
}

impl HostRequest for proto::HostSetOwnPhotoRequest {
    type Args = (Option<PhotoFile>,);

    fn pack(account: proto::AccountRef, (photo,): Self::Args) -> Self {
        Self {
            account: Some(account),
            photo: photo.map(photo_to_proto),
        }
    }

    fn unpack(self) -> Result<Self::Args, Status> {
        Ok((photo_from_proto(self.photo)?,))
    }
}

impl HostAnswer for proto::HostUserProfile {
    type Answer = UserProfile;

    fn pack(profile: UserProfile) -> Self {
        crate::profiles::to_host_proto(&profile)
    }

    fn unpack(self) -> UserProfile {
        crate::profiles::from_host_proto(self)
    }
}

impl HostAnswer for proto::ContactRefsResponse {
    type Answer = Vec<ContactRef>;

    fn pack(contacts: Vec<ContactRef>) -> Self {
        Self {
            contacts: contacts.into_iter().map(HostAnswer::pack).collect(),
        }
    }

    fn unpack(self) -> Vec<ContactRef> {
        self.contacts.into_iter().map(HostAnswer::unpack).collect()
    }
}

impl HostAnswer for proto::SearchTelegramMessagesResponse {
    type Answer = Vec<(i64, i32)>;

    fn pack(found: Vec<(i64, i32)>) -> Self {
        Self {
            messages: found
                .into_iter()
                .map(|(chat_id, message_id)| proto::FoundMessage {
                    chat_id,
                    message_id,
                })
                .collect(),
        }
    }

    fn unpack(self) -> Vec<(i64, i32)> {
        self.messages
            .into_iter()
            .map(|found| (found.chat_id, found.message_id))
            .collect()
    }
}

impl HostAnswer for proto::HostInvitePreview {
    type Answer = InviteCheck;

    fn pack(check: InviteCheck) -> Self {
        match check {
            InviteCheck::Member(chat_id) => Self {
                member_of: Some(chat_id),
                ..Self::default()
            },
            InviteCheck::Preview {
                title,
                about,
                kind,
                members_count,
                request_needed,
                public,
            } => Self {
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

    fn unpack(self) -> InviteCheck {
        match self.member_of {
            Some(chat_id) => InviteCheck::Member(chat_id),
            None => InviteCheck::Preview {
                title: self.title,
                about: self.about,
                kind: self.kind,
                members_count: self.members_count,
                request_needed: self.request_needed,
                public: self.public,
            },
        }
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

/// A pinned photo file (or none) from the wire.
fn photo_from_proto(photo: Option<proto::HostPhotoFile>) -> Result<Option<PhotoFile>, Status> {
    let Some(photo) = photo else {
        return Ok(None);
    };
    let uuid = |field: &str, value: &str| {
        uuid::Uuid::parse_str(value).map_err(|_| invalid(format!("{field} must be a UUID")))
    };
    Ok(Some(PhotoFile {
        job_id: uuid("job_id", &photo.job_id)?,
        file_id: uuid("file_id", &photo.file_id)?,
        sha256: photo.sha256,
        size: photo.size,
        mime: photo.mime,
        file_name: photo.file_name,
    }))
}

/// A Telegram search from the wire (the account taken out already); the gateway's
/// request and a peer's are the same message.
pub(crate) fn message_search(
    request: proto::SearchTelegramMessagesRequest,
) -> Result<MessageSearch, Status> {
    let filter = request
        .filter
        .as_deref()
        .map(|name| {
            SearchFilter::parse(name)
                .ok_or_else(|| invalid("filter must be photo, video, document, voice or link"))
        })
        .transpose()?;
    Ok(MessageSearch {
        text: request.query,
        chat_id: request.chat_id,
        from_date: request.from_date,
        to_date: request.to_date,
        sender_id: request.sender_id,
        filter,
        limit: i32::try_from(request.limit).unwrap_or(i32::MAX),
        offset: request
            .offset
            .map(|offset| {
                if offset.message_id < 1 || offset.date < 0 {
                    return Err(invalid(
                        "offset needs a positive message_id and a date not before 1970",
                    ));
                }
                Ok(SearchOffset {
                    date: offset.date,
                    chat_id: offset.chat_id,
                    message_id: offset.message_id,
                })
            })
            .transpose()?,
    })
}

/// The range a download request asks for.
pub(crate) fn byte_range(request: &proto::DownloadMediaRequest) -> ByteRange {
    ByteRange {
        offset: request.offset,
        length: (request.length > 0).then_some(request.length),
        suffix: (request.suffix > 0).then_some(request.suffix),
    }
}

/// The chunks of a download on the wire: the header first, then the bytes.
pub type DownloadStream = std::pin::Pin<
    Box<dyn futures::Stream<Item = Result<proto::DownloadMediaChunk, Status>> + Send>,
>;

/// A download on the wire: the header first, then the bytes.
pub(crate) fn download_stream(download: MediaDownload) -> DownloadStream {
    let header = futures::stream::once(futures::future::ready(Ok(proto::DownloadMediaChunk {
        header: Some(file_header_to_proto(&download.header)),
        data: Vec::new(),
    })));
    let data = download.chunks.map(|chunk| {
        chunk
            .map(|data| proto::DownloadMediaChunk { header: None, data })
            .map_err(|error| to_status(&error))
    });
    Box::pin(header.chain(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_on_a_chat_cross_the_wire_whole_and_a_bad_chat_id_is_refused() {
        let account = proto::AccountRef {
            user_id: "00000000-0000-0000-0000-000000000001".into(),
            session_index: 1,
        };
        let chat = -1_000_000_000_042;
        let read = (chat, Some(17));
        assert_eq!(
            proto::MarkReadRequest::pack(account.clone(), read)
                .unpack()
                .expect("unpacked"),
            read
        );
        let edit = (chat, 18, "fixed".to_owned());
        let request = proto::EditMessageRequest::pack(account.clone(), edit.clone());
        assert_eq!(request.chat_id, chat.to_string());
        assert_eq!(request.unpack().expect("unpacked"), edit);
        let delete = (chat, vec![3, 4], true);
        let mut request = proto::DeleteMessagesRequest::pack(account, delete.clone());
        assert_eq!(request.clone().unpack().expect("unpacked"), delete);
        request.chat_id = "forty-two".into();
        assert_eq!(
            request.unpack().expect_err("refused").code(),
            Code::InvalidArgument
        );
    }

    #[test]
    fn invite_and_join_request_pages_cross_the_wire_whole() {
        let link = InviteLink {
            link: "https://t.me/+abc".into(),
            admin_id: 7,
            date: 1_000,
            expire_date: Some(2_000),
            usage_limit: None,
            usage: 3,
            title: Some("friends".into()),
            request_needed: true,
            revoked: false,
            permanent: false,
            requested: 2,
        };
        let links = InvitePage {
            count: 5,
            links: vec![
                link.clone(),
                InviteLink {
                    link: "https://t.me/+def".into(),
                    permanent: true,
                    ..link
                },
            ],
        };
        assert_eq!(proto::HostInvitePage::pack(links.clone()).unpack(), links);
        let requests = JoinRequestPage {
            count: 9,
            requests: vec![JoinRequest {
                user_id: 42,
                date: 1_500,
                about: "hi".into(),
                first_name: "Ann".into(),
                last_name: "Lee".into(),
                username: "ann".into(),
            }],
        };
        assert_eq!(
            proto::HostJoinRequestPage::pack(requests.clone()).unpack(),
            requests
        );
    }

    #[test]
    fn a_search_keeps_its_offset_across_the_wire_and_a_first_page_has_none() {
        let account = proto::AccountRef {
            user_id: "00000000-0000-0000-0000-000000000001".into(),
            session_index: 1,
        };
        let later = MessageSearch {
            text: "hisobot".into(),
            chat_id: None,
            to_date: Some(6_000),
            limit: 21,
            offset: Some(SearchOffset {
                date: 5_000,
                chat_id: -1_000_000_000_042,
                message_id: 17,
            }),
            ..MessageSearch::default()
        };
        let (unpacked,) =
            proto::SearchTelegramMessagesRequest::pack(account.clone(), (later.clone(),))
                .unpack()
                .expect("unpacked");
        assert_eq!(unpacked, later);
        let first = MessageSearch {
            offset: None,
            ..later
        };
        let request = proto::SearchTelegramMessagesRequest::pack(account, (first.clone(),));
        assert_eq!(request.offset, None);
        assert_eq!(request.unpack().expect("unpacked").0, first);

        let no_message = MessageSearch {
            offset: Some(SearchOffset {
                date: 5_000,
                chat_id: 42,
                message_id: 0,
            }),
            ..first
        };
        let refused = proto::SearchTelegramMessagesRequest::pack(
            proto::AccountRef {
                user_id: "00000000-0000-0000-0000-000000000001".into(),
                session_index: 1,
            },
            (no_message,),
        )
        .unpack()
        .expect_err("refused");
        assert_eq!(
            ErrorCode::from_grpc_status(&refused),
            ErrorCode::ValidationFailed
        );
    }
}
