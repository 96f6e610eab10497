//! The chat service's gRPC faces: `talkapp.chat.v1.ChatService` (the gateway's) over
//! [`ChatService`], and `talkapp.chat.v1.AccountHost` (the other replicas') over this
//! replica's accounts: [`AccountHostGrpcAdapter`], written with the other end of each call
//! in [`crate::account_host::calls`].
//!
//! The gateway's calls are one list (`chat_calls!`, ADR 0041): each names its rpc, how
//! its request becomes a call of [`ChatService`], and how the answer becomes its response.
//! The request's absent fields are proto3 `optional` and reach the service as `Option`s;
//! a [`ChatError`] becomes its status in one place (`to_status`).

use chrono::SecondsFormat;
use talkapp_proto::chat::v1 as proto;
use talkapp_proto::tonic::{self, Request, Response, Status};
use talkapp_telegram::joins::JoinRequestPage;
use talkapp_telegram::message_actions::PinOptions;
use talkapp_telegram::model::TgUser;
use talkapp_telegram::search::Contact;
use talkapp_telegram::send_media::SendAs;
use talkapp_views::accounts::linked_account;
use uuid::Uuid;

pub use crate::account_host::AccountHostGrpcAdapter;
pub use crate::account_host::wire::DownloadStream;
use crate::account_host::wire::HostAnswer as _;
use crate::account_host::wire::{byte_range, download_stream, message_search};
use crate::linking::{LinkStep, StartedLogin};
use crate::profiles::to_proto_profile;
use crate::proto_views::{filled, member_change_from_proto, to_proto_presence, to_proto_user};
use crate::proto_views::{to_proto_chat, to_proto_details, to_proto_job, to_proto_message};
use crate::reads::{HistoryPage, HistoryParams, MessageView};
use crate::sends::{MediaSendRequest, SendError, SendRequest};
use crate::service::{
    ChatError, ChatService, CreatedGroupView, InvitePreviewView, JoinedView, parse_chat_id,
};

/// The gRPC face of [`ChatService`].
pub struct ChatGrpcAdapter {
    service: std::sync::Arc<ChatService>,
}

impl ChatGrpcAdapter {
    /// Wraps `service`.
    pub fn new(service: std::sync::Arc<ChatService>) -> Self {
        Self { service }
    }

    async fn key(
        &self,
        account: Option<proto::AccountRef>,
    ) -> Result<talkapp_store::AccountKey, Status> {
        let account = account.ok_or_else(|| {
            talkapp_common::ErrorCode::ValidationFailed.to_grpc_status("account is required")
        })?;
        self.service
            .account(&account.user_id, account.session_index)
            .await
            .map_err(to_status)
    }
}

impl From<ChatError> for Status {
    fn from(error: ChatError) -> Self {
        to_status(error)
    }
}

fn to_status(error: ChatError) -> Status {
    let (code, retry_after) = error.code();
    let message = match code.http_status() {
        500 => {
            tracing::warn!(%error, "chat call failed");
            "internal error".to_owned()
        }
        501.. => {
            tracing::warn!(%error, "chat call failed");
            error.to_string()
        }
        _ => {
            tracing::info!(%error, "chat call refused");
            error.to_string()
        }
    };
    match retry_after {
        Some(seconds) => code.to_grpc_status_with_retry(message, seconds),
        None => code.to_grpc_status(message),
    }
}

/// Writes `impl proto::chat_service_server::ChatService for ChatGrpcAdapter` from one
/// list of the calls. Each entry: `rpc(Request) -> Response = |service, key, request|
/// answer => pack;`: the request is taken out of its envelope, `key` is its linked
/// account (`account` is required: else `validation_failed`; an unknown account:
/// `not_found`), `answer` is an expression of `Result<_, E>` with `E` a [`ChatError`] or
/// a [`Status`] (`?` inside it converts either), and `pack` (optional: the answer is
/// then the response) makes the response of the answer. Any [`ChatError`] becomes its
/// status in [`to_status`], the one place that maps them. The calls under `accounts`
/// name no linked account (`|service, request|`). The download, a stream, is written by
/// hand under `by_hand`.
macro_rules! chat_calls {
    (
        by_hand { $($by_hand:tt)* }
        accounts {
            $(
                $unkeyed_rpc:ident($unkeyed_request_type:ident) -> $unkeyed_response:ident
                    = |$unkeyed_service:ident, $unkeyed_request:ident| $unkeyed_answer:expr
                    $(=> $unkeyed_pack:expr)?;
            )*
        }
        calls {
            $(
                $rpc:ident($request_type:ident) -> $response:ident
                    = |$service:ident, $key:ident, $request:ident| $answer:expr
                    $(=> $pack:expr)?;
            )*
        }
    ) => {
        #[tonic::async_trait]
        impl proto::chat_service_server::ChatService for ChatGrpcAdapter {
            $($by_hand)*

            $(
                async fn $unkeyed_rpc(
                    &self,
                    request: Request<proto::$unkeyed_request_type>,
                ) -> Result<Response<proto::$unkeyed_response>, Status> {
                    let $unkeyed_request = request.into_inner();
                    let $unkeyed_service = &*self.service;
                    let answer = $unkeyed_answer?;
                    $(let answer = ($unkeyed_pack)(answer);)?
                    Ok(Response::new(answer))
                }
            )*

            $(
                async fn $rpc(
                    &self,
                    request: Request<proto::$request_type>,
                ) -> Result<Response<proto::$response>, Status> {
                    let mut $request = request.into_inner();
                    let $key = self.key($request.account.take()).await?;
                    let $service = &*self.service;
                    let answer = $answer?;
                    $(let answer = ($pack)(answer);)?
                    Ok(Response::new(answer))
                }
            )*
        }
    };
}

chat_calls! {
    by_hand {
        type DownloadMediaStream = DownloadStream;

        async fn download_media(
            &self,
            request: Request<proto::DownloadMediaRequest>,
        ) -> Result<Response<Self::DownloadMediaStream>, Status> {
            let mut request = request.into_inner();
            let key = self.key(request.account.take()).await?;
            let download = self
                .service
                .download_media(key, &request.media_ref, byte_range(&request))
                .await?;
            Ok(Response::new(download_stream(download)))
        }
    }
    accounts {
        start_login(StartLoginRequest) -> StartLoginResponse
            = |service, request| service.start_login(&request.user_id, &request.phone).await
            => |started: StartedLogin| proto::StartLoginResponse {
                login_id: started.login_id.to_string(),
                expires_at: started.expires_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            };
        submit_login_code(SubmitLoginCodeRequest) -> LoginStepResponse
            = |service, request| service
                .submit_login_code(
                    &request.user_id,
                    request.login_id.as_deref(),
                    request.phone.as_deref(),
                    &request.code,
                )
                .await
            => to_proto_step;
        submit_login_password(SubmitLoginPasswordRequest) -> LoginStepResponse
            = |service, request| service
                .submit_login_password(
                    &request.user_id,
                    request.login_id.as_deref(),
                    request.phone.as_deref(),
                    &request.password,
                )
                .await
            => to_proto_step;
        unlink_account(UnlinkAccountRequest) -> UnlinkAccountResponse
            = |service, request| service
                .unlink_account(&request.user_id, request.session_index)
                .await
            => empty;
    }
    calls {
        get_chat(GetChatRequest) -> ChatDetails
            = |service, key, request| service.chat(key, parse_chat_id(&request.chat_id)?).await
            => to_proto_details;
        get_history(GetHistoryRequest) -> GetHistoryResponse
            = |service, key, request| service
                .history(
                    key,
                    parse_chat_id(&request.chat_id)?,
                    HistoryParams {
                        before: request.before,
                        after: request.after,
                        from_date: request.from_date,
                        to_date: request.to_date,
                        limit: request.limit,
                    },
                )
                .await
            => |page: HistoryPage| proto::GetHistoryResponse {
                messages: page.messages.into_iter().map(to_proto_message).collect(),
                next_cursor: page.next_cursor,
                prev_cursor: page.prev_cursor,
            };
        send_message(SendMessageRequest) -> SendJob
            = |service, key, request| service
                .send_message(
                    key,
                    SendRequest {
                        chat_id: parse_chat_id(&request.chat_id)?,
                        text: request.text,
                        reply_to: request.reply_to.filter(|reply_to| *reply_to > 0),
                        silent: request.silent,
                        client_message_id: request.client_message_id,
                    },
                )
                .await
            => to_proto_job;
        send_media(SendMediaRequest) -> SendJob
            = |service, key, request| service.send_media(key, media_send(request)?).await
            => to_proto_job;
        get_message_status(GetMessageStatusRequest) -> SendJob
            = |service, key, request| service.message_status(key, &request.job_id).await
            => to_proto_job;
        send_chat_action(SendChatActionRequest) -> SendChatActionResponse
            = |service, key, request| service
                .send_chat_action(key, parse_chat_id(&request.chat_id)?, &request.action)
                .await
            => empty;
        mark_read(MarkReadRequest) -> MarkReadResponse
            = |service, key, request| service
                .mark_read(key, parse_chat_id(&request.chat_id)?, request.max_id)
                .await
            => empty;
        create_group(CreateGroupRequest) -> CreateGroupResponse
            = |service, key, request| service
                .create_group(
                    key,
                    &request.title,
                    &request.kind,
                    request.about.as_deref().unwrap_or_default(),
                    &request.members,
                    request.idempotency_key.as_deref(),
                )
                .await
            => |created: CreatedGroupView| proto::CreateGroupResponse {
                chat: Some(to_proto_chat(created.chat)),
                missing_members: created.missing_members.iter().map(ToString::to_string).collect(),
            };
        edit_message(EditMessageRequest) -> Message
            = |service, key, request| service
                .edit_message(key, parse_chat_id(&request.chat_id)?, request.message_id, &request.text)
                .await
            => to_proto_message;
        pin_message(PinMessageRequest) -> PinMessageResponse
            = |service, key, request| service
                .pin_message(
                    key,
                    parse_chat_id(&request.chat_id)?,
                    request.message_id,
                    PinOptions {
                        unpin: request.unpin,
                        silent: request.silent,
                        one_side: request.for_me_only,
                    },
                )
                .await
            => empty;
        unpin_all_messages(UnpinAllMessagesRequest) -> UnpinAllMessagesResponse
            = |service, key, request| service
                .unpin_all_messages(key, parse_chat_id(&request.chat_id)?)
                .await
            => empty;
        delete_messages(DeleteMessagesRequest) -> DeleteMessagesResponse
            = |service, key, request| service
                .delete_messages(
                    key,
                    parse_chat_id(&request.chat_id)?,
                    &request.message_ids,
                    request.for_everyone,
                )
                .await
            => empty;
        forward_messages(ForwardMessagesRequest) -> ForwardMessagesResponse
            = |service, key, request| service
                .forward_messages(
                    key,
                    parse_chat_id(&request.from_chat_id)?,
                    &request.message_ids,
                    parse_chat_id(&request.to_chat_id)?,
                    request.silent,
                    request.idempotency_key.as_deref(),
                )
                .await
            => |copies: Vec<MessageView>| proto::ForwardMessagesResponse {
                messages: copies.into_iter().map(to_proto_message).collect(),
            };
        get_user_profile(GetUserProfileRequest) -> UserProfile
            = |service, key, request| service.user_profile(key, &request.telegram_user_id).await
            => to_proto_profile;
        add_member(AddMemberRequest) -> AddMemberResponse
            = |service, key, request| {
                let chat_id = parse_chat_id(&request.chat_id)?;
                service
                    .add_member(key, chat_id, &request.user, request.idempotency_key.as_deref())
                    .await
                    .map(|user_id| proto::AddMemberResponse {
                        chat_id: chat_id.to_string(),
                        user_id: user_id.to_string(),
                    })
            };
        edit_chat(EditChatRequest) -> Chat
            = |service, key, request| service
                .edit_chat(key, parse_chat_id(&request.chat_id)?, request.title, request.about)
                .await
            => to_proto_chat;
        set_chat_photo(SetChatPhotoRequest) -> Chat
            = |service, key, request| service
                .set_chat_photo(key, parse_chat_id(&request.chat_id)?, request.file_id.as_deref())
                .await
            => to_proto_chat;
        set_own_photo(SetOwnPhotoRequest) -> UserProfile
            = |service, key, request| service.set_own_photo(key, request.file_id.as_deref()).await
            => to_proto_profile;
        change_members(ChangeMembersRequest) -> ChangeMembersResponse
            = |service, key, request| {
                let chat_id = parse_chat_id(&request.chat_id)?;
                let change = member_change_from_proto(request.action, request.user.as_deref())
                    .map_err(ChatError::InvalidArgument)?;
                service
                    .change_members(key, chat_id, change, request.idempotency_key.as_deref())
                    .await
                    .map(|user_id| proto::ChangeMembersResponse {
                        chat_id: chat_id.to_string(),
                        user_id: user_id.to_string(),
                    })
            };
        join_chat(JoinChatRequest) -> JoinChatResponse
            = |service, key, request| service
                .join_chat(
                    key,
                    request.username.as_deref(),
                    request.invite_link.as_deref(),
                    request.idempotency_key.as_deref(),
                )
                .await
            => |joined: JoinedView| proto::JoinChatResponse {
                pending_approval: joined.chat.is_none(),
                chat: joined.chat.map(to_proto_chat),
            };
        check_invite(CheckInviteRequest) -> InvitePreview
            = |service, key, request| service.check_invite(key, &request.invite_link).await
            => invite_preview_to_proto;
        export_invite(ExportInviteRequest) -> InviteLink
            = |service, key, request| {
                let chat_id = parse_chat_id(&request.chat_id)?;
                service
                    .export_invite(
                        key,
                        chat_id,
                        request.expire_date,
                        request.usage_limit,
                        request.title,
                        request.request_needed,
                    )
                    .await
                    .map(|link| invite_link_to_proto(link, chat_id))
            };
        list_invites(ListInvitesRequest) -> InviteLinksPage
            = |service, key, request| {
                let chat_id = parse_chat_id(&request.chat_id)?;
                service
                    .list_invites(
                        key,
                        chat_id,
                        request.revoked,
                        request.limit,
                        request.cursor.as_deref(),
                    )
                    .await
                    .map(|(page, next_cursor)| proto::InviteLinksPage {
                        links: page
                            .links
                            .into_iter()
                            .map(|link| invite_link_to_proto(link, chat_id))
                            .collect(),
                        count: page.count,
                        next_cursor,
                    })
            };
        edit_invite(EditInviteRequest) -> InviteLink
            = |service, key, request| {
                let chat_id = parse_chat_id(&request.chat_id)?;
                let change = crate::service::InviteChange {
                    invite_link: request.invite_link,
                    revoke: request.revoke,
                    expire_date: request.expire_date,
                    usage_limit: request.usage_limit,
                    title: request.title,
                    request_needed: request.request_needed,
                };
                service
                    .edit_invite(key, chat_id, change, request.idempotency_key.as_deref())
                    .await
                    .map(|link| invite_link_to_proto(link, chat_id))
            };
        list_join_requests(ListJoinRequestsRequest) -> JoinRequestsPage
            = |service, key, request| service
                .join_requests(
                    key,
                    parse_chat_id(&request.chat_id)?,
                    request.limit,
                    request.cursor.as_deref(),
                )
                .await
            => join_requests_to_proto;
        answer_join_request(AnswerJoinRequestRequest) -> AnswerJoinRequestResponse
            = |service, key, request| {
                let chat_id = parse_chat_id(&request.chat_id)?;
                service
                    .answer_join_request(
                        key,
                        chat_id,
                        &request.user,
                        request.approve,
                        request.idempotency_key.as_deref(),
                    )
                    .await
                    .map(|(user_id, approved)| proto::AnswerJoinRequestResponse {
                        chat_id: chat_id.to_string(),
                        user_id: user_id.to_string(),
                        approved,
                    })
            };
        search_telegram_messages(SearchTelegramMessagesRequest) -> SearchTelegramMessagesResponse
            = |service, key, request| service
                .search_telegram_messages(key, &message_search(request)?)
                .await
            => proto::SearchTelegramMessagesResponse::pack;
        list_contacts(ListContactsRequest) -> ListContactsResponse
            = |service, key, request| service.contacts(key).await
            => |contacts: Vec<Contact>| proto::ListContactsResponse {
                contacts: contacts.iter().map(to_proto_contact).collect(),
            };
        get_own_profile(GetOwnProfileRequest) -> UserProfile
            = |service, key, request| service.own_profile(key).await
            => to_proto_profile;
        update_own_profile(UpdateOwnProfileRequest) -> UserProfile
            = |service, key, request| service
                .update_own_profile(
                    key,
                    crate::service::ProfileFields {
                        first_name: request.first_name.as_deref(),
                        last_name: request.last_name.as_deref(),
                        bio: request.bio.as_deref(),
                        username: request.username.as_deref(),
                    },
                )
                .await
            => to_proto_profile;
        add_contact(AddContactRequest) -> Contact
            = |service, key, request| service
                .add_contact(
                    key,
                    &request.user,
                    &request.first_name,
                    &request.last_name,
                    request.idempotency_key.as_deref(),
                )
                .await
            => |contact: Contact| to_proto_contact(&contact);
        delete_contact(DeleteContactRequest) -> DeleteContactResponse
            = |service, key, request| service.delete_contact(key, &request.telegram_user_id).await
            => empty;
        search_people(SearchPeopleRequest) -> SearchPeopleResponse
            = |service, key, request| service.search_people(key, &request.query, request.limit).await
            => people_to_proto;
    }
}

/// The answer of a call whose response is empty.
fn empty<Answer: Default>((): ()) -> Answer {
    Answer::default()
}

/// A media send as the service takes it: a file id that is not a UUID names no file of
/// the user (not found); an unknown kind is refused.
fn media_send(request: proto::SendMediaRequest) -> Result<MediaSendRequest, ChatError> {
    let file_ids = request
        .file_ids
        .iter()
        .map(|file_id| Uuid::parse_str(file_id))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ChatError::Send(SendError::FileNotFound))?;
    let kind = request
        .kind
        .as_deref()
        .map(|kind| {
            SendAs::parse(kind).ok_or_else(|| {
                ChatError::InvalidArgument(
                    "kind must be photo, video, document, voice or audio".into(),
                )
            })
        })
        .transpose()?;
    Ok(MediaSendRequest {
        chat_id: parse_chat_id(&request.chat_id)?,
        file_ids,
        kind,
        caption: request.caption.unwrap_or_default(),
        reply_to: request.reply_to.filter(|reply_to| *reply_to > 0),
        silent: request.silent,
        client_message_id: request.client_message_id,
    })
}

fn people_to_proto(people: Vec<TgUser>) -> proto::SearchPeopleResponse {
    proto::SearchPeopleResponse {
        people: people
            .into_iter()
            .map(|user| {
                let is_contact = user.is_contact;
                let as_contact = to_proto_contact(&Contact {
                    user,
                    mutual: false,
                });
                proto::Person {
                    user: as_contact.user,
                    is_contact,
                    presence: as_contact.presence,
                }
            })
            .collect(),
    }
}

fn invite_preview_to_proto(preview: InvitePreviewView) -> proto::InvitePreview {
    let (chat_id, chat) = match preview.member_of {
        Some((chat_id, chat)) => (Some(chat_id.to_string()), chat.map(to_proto_chat)),
        None => (None, None),
    };
    proto::InvitePreview {
        already_member: chat_id.is_some(),
        chat,
        title: preview.title,
        about: filled(preview.about),
        kind: preview.kind,
        members_count: preview.members_count,
        request_needed: preview.request_needed,
        public: preview.public,
        chat_id,
    }
}

fn join_requests_to_proto(
    (page, next_cursor): (JoinRequestPage, Option<String>),
) -> proto::JoinRequestsPage {
    proto::JoinRequestsPage {
        requests: page
            .requests
            .into_iter()
            .map(|request| proto::JoinRequest {
                user_id: request.user_id.to_string(),
                date: i64::from(request.date),
                about: filled(request.about),
                first_name: request.first_name,
                last_name: filled(request.last_name),
                username: filled(request.username),
            })
            .collect(),
        count: page.count,
        next_cursor,
    }
}

fn to_proto_contact(contact: &Contact) -> proto::Contact {
    proto::Contact {
        user: Some(to_proto_user(&contact.user)),
        mutual: contact.mutual,
        presence: Some(to_proto_presence(contact.user.presence)),
    }
}

fn to_proto_step(step: LinkStep) -> proto::LoginStepResponse {
    proto::LoginStepResponse {
        step: Some(match step {
            LinkStep::PasswordNeeded { hint } => {
                proto::login_step_response::Step::PasswordHint(hint)
            }
            LinkStep::Linked(linked) => {
                proto::login_step_response::Step::Account(linked_account(linked, None))
            }
        }),
    }
}

/// An invite link of `chat_id` on the gateway's wire.
fn invite_link_to_proto(
    link: talkapp_telegram::joins::InviteLink,
    chat_id: i64,
) -> proto::InviteLink {
    proto::InviteLink {
        link: link.link,
        admin_id: link.admin_id.to_string(),
        date: i64::from(link.date),
        expire_date: link.expire_date.map(i64::from),
        usage_limit: link.usage_limit,
        usage: link.usage,
        title: link.title,
        request_needed: link.request_needed,
        revoked: link.revoked,
        permanent: link.permanent,
        chat_id: chat_id.to_string(),
        requested: link.requested,
    }
}
