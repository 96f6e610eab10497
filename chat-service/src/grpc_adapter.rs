//! The chat service's gRPC faces: `talkapp.chat.v1.ChatService` (the gateway's) over
//! [`ChatService`], and `talkapp.chat.v1.AccountHost` (the other replicas') over this
//! replica's accounts: [`AccountHostGrpcAdapter`], written with the other end of each call
//! in [`crate::account_host::calls`].

use chrono::SecondsFormat;
use talkapp_proto::chat::v1 as proto;
use talkapp_proto::tonic::{self, Request, Response, Status};
use talkapp_store::{SessionStatus, TelegramSession};
use talkapp_telegram::message_actions::PinOptions;
use talkapp_telegram::model::PhotoRef;
use talkapp_telegram::search::Contact;
use talkapp_telegram::send_media::SendAs;
use uuid::Uuid;

pub use crate::account_host::AccountHostGrpcAdapter;
pub use crate::account_host::wire::DownloadStream;
use crate::account_host::wire::HostAnswer as _;
use crate::account_host::wire::{byte_range, download_stream, message_search};
use crate::linking::LinkStep;
use crate::proto_views::{member_change_from_proto, presence_fields};
use crate::proto_views::{
    photo_reference, to_proto_chat, to_proto_details, to_proto_job, to_proto_message,
};
use crate::reads::HistoryParams;
use crate::sends::{MediaSendRequest, SendError, SendRequest};
use crate::service::{ChatError, ChatService, parse_chat_id};

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
        session: Option<proto::SessionRef>,
    ) -> Result<talkapp_store::SessionKey, Status> {
        let session = session.ok_or_else(|| {
            talkapp_common::ErrorCode::ValidationFailed.to_grpc_status("session is required")
        })?;
        self.service
            .session(&session.user_id, session.session_index)
            .await
            .map_err(to_status)
    }
}

fn optional(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn optional_date(unix: i64) -> Option<i64> {
    (unix != 0).then_some(unix)
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

fn to_proto_status(status: SessionStatus) -> proto::SessionStatus {
    match status {
        SessionStatus::Connected => proto::SessionStatus::Connected,
        SessionStatus::Connecting => proto::SessionStatus::Connecting,
        SessionStatus::LoggedOut => proto::SessionStatus::LoggedOut,
        SessionStatus::FloodWait => proto::SessionStatus::FloodWait,
    }
}

fn to_proto_session(session: TelegramSession, photo: Option<&PhotoRef>) -> proto::Session {
    let telegram_user_id = session.account.telegram_user_id;
    proto::Session {
        session_index: session.session_index,
        telegram_user: Some(proto::TelegramUser {
            id: telegram_user_id.to_string(),
            first_name: session.account.first_name,
            last_name: session.account.last_name,
            username: session.account.username,
            phone: session.account.phone,
            photo_id: photo
                .map(|photo| photo_reference(telegram_user_id, photo))
                .unwrap_or_default(),
        }),
        status: to_proto_status(session.status).into(),
        linked_at: session
            .linked_at
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        link_stalled_at: session
            .link_stalled_at
            .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)),
    }
}

#[tonic::async_trait]
impl proto::chat_service_server::ChatService for ChatGrpcAdapter {
    type DownloadMediaStream = DownloadStream;

    async fn download_media(
        &self,
        request: Request<proto::DownloadMediaRequest>,
    ) -> Result<Response<Self::DownloadMediaStream>, Status> {
        let mut request = request.into_inner();
        let key = self.key(request.session.take()).await?;
        let download = self
            .service
            .download_media(key, &request.media_ref, byte_range(&request))
            .await
            .map_err(to_status)?;
        Ok(Response::new(download_stream(download)))
    }

    async fn list_sessions(
        &self,
        request: Request<proto::ListSessionsRequest>,
    ) -> Result<Response<proto::ListSessionsResponse>, Status> {
        let sessions = self
            .service
            .list_sessions(&request.into_inner().user_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::ListSessionsResponse {
            sessions: sessions
                .into_iter()
                .map(|listed| to_proto_session(listed.session, listed.photo.as_ref()))
                .collect(),
        }))
    }

    async fn start_login(
        &self,
        request: Request<proto::StartLoginRequest>,
    ) -> Result<Response<proto::StartLoginResponse>, Status> {
        let request = request.into_inner();
        let started = self
            .service
            .start_login(&request.user_id, &request.phone)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::StartLoginResponse {
            login_id: started.login_id.to_string(),
            expires_at: started
                .expires_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        }))
    }

    async fn submit_login_code(
        &self,
        request: Request<proto::SubmitLoginCodeRequest>,
    ) -> Result<Response<proto::LoginStepResponse>, Status> {
        let request = request.into_inner();
        let step = self
            .service
            .submit_login_code(
                &request.user_id,
                &request.login_id,
                &request.phone,
                &request.code,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(to_proto_step(step)))
    }

    async fn submit_login_password(
        &self,
        request: Request<proto::SubmitLoginPasswordRequest>,
    ) -> Result<Response<proto::LoginStepResponse>, Status> {
        let request = request.into_inner();
        let step = self
            .service
            .submit_login_password(
                &request.user_id,
                &request.login_id,
                &request.phone,
                &request.password,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(to_proto_step(step)))
    }

    async fn unlink_session(
        &self,
        request: Request<proto::UnlinkSessionRequest>,
    ) -> Result<Response<proto::UnlinkSessionResponse>, Status> {
        let request = request.into_inner();
        self.service
            .unlink_session(&request.user_id, request.session_index)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::UnlinkSessionResponse {}))
    }

    async fn list_chats(
        &self,
        request: Request<proto::ListChatsRequest>,
    ) -> Result<Response<proto::ListChatsResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let archived = match request.archived.as_str() {
            "" => None,
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                return Err(to_status(ChatError::InvalidArgument(
                    "archived must be true or false".into(),
                )));
            }
        };
        let page = self
            .service
            .list_chats(
                key,
                optional(request.kind),
                archived,
                optional(request.cursor).as_deref(),
                (request.limit > 0).then_some(request.limit),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::ListChatsResponse {
            chats: page.chats.into_iter().map(to_proto_chat).collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn get_chat(
        &self,
        request: Request<proto::GetChatRequest>,
    ) -> Result<Response<proto::ChatDetails>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        let details = self.service.chat(key, chat_id).await.map_err(to_status)?;
        Ok(Response::new(to_proto_details(details)))
    }

    async fn get_history(
        &self,
        request: Request<proto::GetHistoryRequest>,
    ) -> Result<Response<proto::GetHistoryResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        let page = self
            .service
            .history(
                key,
                chat_id,
                HistoryParams {
                    before: optional(request.before),
                    after: optional(request.after),
                    from_date: optional_date(request.from_date),
                    to_date: optional_date(request.to_date),
                    limit: (request.limit > 0).then_some(request.limit),
                },
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::GetHistoryResponse {
            messages: page.messages.into_iter().map(to_proto_message).collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
            prev_cursor: page.prev_cursor.unwrap_or_default(),
        }))
    }

    async fn send_message(
        &self,
        request: Request<proto::SendMessageRequest>,
    ) -> Result<Response<proto::SendJob>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        let job = self
            .service
            .send_message(
                key,
                SendRequest {
                    chat_id,
                    text: request.text,
                    reply_to: (request.reply_to > 0).then_some(request.reply_to),
                    silent: request.silent,
                    client_message_id: optional(request.client_message_id),
                },
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(to_proto_job(job)))
    }

    async fn send_media(
        &self,
        request: Request<proto::SendMediaRequest>,
    ) -> Result<Response<proto::SendJob>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        // A file id that is not a UUID names no file of the user: not found.
        let file_ids = request
            .file_ids
            .iter()
            .map(|file_id| Uuid::parse_str(file_id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| to_status(ChatError::Send(SendError::FileNotFound)))?;
        let kind = request
            .kind
            .as_deref()
            .map(|kind| {
                SendAs::parse(kind).ok_or_else(|| {
                    to_status(ChatError::InvalidArgument(
                        "kind must be photo, video, document, voice or audio".into(),
                    ))
                })
            })
            .transpose()?;
        let job = self
            .service
            .send_media(
                key,
                MediaSendRequest {
                    chat_id,
                    file_ids,
                    kind,
                    caption: request.caption.unwrap_or_default(),
                    reply_to: request.reply_to.filter(|reply_to| *reply_to > 0),
                    silent: request.silent,
                    client_message_id: request.client_message_id,
                },
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(to_proto_job(job)))
    }

    async fn get_message_status(
        &self,
        request: Request<proto::GetMessageStatusRequest>,
    ) -> Result<Response<proto::SendJob>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let job = self
            .service
            .message_status(key, &request.job_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(to_proto_job(job)))
    }

    async fn send_chat_action(
        &self,
        request: Request<proto::SendChatActionRequest>,
    ) -> Result<Response<proto::SendChatActionResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        self.service
            .send_chat_action(key, chat_id, &request.action)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::SendChatActionResponse {}))
    }

    async fn mark_read(
        &self,
        request: Request<proto::MarkReadRequest>,
    ) -> Result<Response<proto::MarkReadResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        self.service
            .mark_read(key, chat_id, request.max_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::MarkReadResponse {}))
    }

    async fn create_group(
        &self,
        request: Request<proto::CreateGroupRequest>,
    ) -> Result<Response<proto::CreateGroupResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let created = self
            .service
            .create_group(
                key,
                &request.title,
                &request.kind,
                &request.about,
                &request.members,
                &request.idempotency_key,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::CreateGroupResponse {
            chat: Some(to_proto_chat(created.chat)),
            missing_members: created
                .missing_members
                .iter()
                .map(ToString::to_string)
                .collect(),
        }))
    }

    async fn edit_message(
        &self,
        request: Request<proto::EditMessageRequest>,
    ) -> Result<Response<proto::Message>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        let edited = self
            .service
            .edit_message(key, chat_id, request.message_id, &request.text)
            .await
            .map_err(to_status)?;
        Ok(Response::new(to_proto_message(edited)))
    }

    async fn pin_message(
        &self,
        request: Request<proto::PinMessageRequest>,
    ) -> Result<Response<proto::PinMessageResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        self.service
            .pin_message(
                key,
                chat_id,
                request.message_id,
                PinOptions {
                    unpin: request.unpin,
                    silent: request.silent,
                    one_side: request.for_me_only,
                },
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::PinMessageResponse {}))
    }

    async fn unpin_all_messages(
        &self,
        request: Request<proto::UnpinAllMessagesRequest>,
    ) -> Result<Response<proto::UnpinAllMessagesResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        self.service
            .unpin_all_messages(key, chat_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::UnpinAllMessagesResponse {}))
    }

    async fn delete_messages(
        &self,
        request: Request<proto::DeleteMessagesRequest>,
    ) -> Result<Response<proto::DeleteMessagesResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        self.service
            .delete_messages(key, chat_id, &request.message_ids, request.for_everyone)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::DeleteMessagesResponse {}))
    }

    async fn forward_messages(
        &self,
        request: Request<proto::ForwardMessagesRequest>,
    ) -> Result<Response<proto::ForwardMessagesResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let from_chat_id = parse_chat_id(&request.from_chat_id).map_err(to_status)?;
        let to_chat_id = parse_chat_id(&request.to_chat_id).map_err(to_status)?;
        let copies = self
            .service
            .forward_messages(
                key,
                from_chat_id,
                &request.message_ids,
                to_chat_id,
                request.silent,
                &request.idempotency_key,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::ForwardMessagesResponse {
            messages: copies.into_iter().map(to_proto_message).collect(),
        }))
    }

    async fn get_user_profile(
        &self,
        request: Request<proto::GetUserProfileRequest>,
    ) -> Result<Response<proto::UserProfile>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let profile = self
            .service
            .user_profile(key, &request.telegram_user_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(crate::profiles::to_proto_profile(profile)))
    }

    async fn add_member(
        &self,
        request: Request<proto::AddMemberRequest>,
    ) -> Result<Response<proto::AddMemberResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        let user_id = self
            .service
            .add_member(key, chat_id, &request.user, &request.idempotency_key)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::AddMemberResponse {
            chat_id: chat_id.to_string(),
            user_id: user_id.to_string(),
        }))
    }

    async fn edit_chat(
        &self,
        request: Request<proto::EditChatRequest>,
    ) -> Result<Response<proto::Chat>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        let chat = self
            .service
            .edit_chat(key, chat_id, request.title, request.about)
            .await
            .map_err(to_status)?;
        Ok(Response::new(to_proto_chat(chat)))
    }

    async fn set_chat_photo(
        &self,
        request: Request<proto::SetChatPhotoRequest>,
    ) -> Result<Response<proto::Chat>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        let chat = self
            .service
            .set_chat_photo(key, chat_id, request.file_id.as_deref())
            .await
            .map_err(to_status)?;
        Ok(Response::new(to_proto_chat(chat)))
    }

    async fn set_own_photo(
        &self,
        request: Request<proto::SetOwnPhotoRequest>,
    ) -> Result<Response<proto::UserProfile>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let profile = self
            .service
            .set_own_photo(key, request.file_id.as_deref())
            .await
            .map_err(to_status)?;
        Ok(Response::new(crate::profiles::to_proto_profile(profile)))
    }

    async fn change_members(
        &self,
        request: Request<proto::ChangeMembersRequest>,
    ) -> Result<Response<proto::ChangeMembersResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        let change = member_change_from_proto(request.action, request.user.as_deref())
            .map_err(|reason| to_status(ChatError::InvalidArgument(reason)))?;
        let user_id = self
            .service
            .change_members(key, chat_id, change, &request.idempotency_key)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::ChangeMembersResponse {
            chat_id: chat_id.to_string(),
            user_id: user_id.to_string(),
        }))
    }

    async fn join_chat(
        &self,
        request: Request<proto::JoinChatRequest>,
    ) -> Result<Response<proto::JoinChatResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let joined = self
            .service
            .join_chat(
                key,
                request.username.as_deref(),
                request.invite_link.as_deref(),
                &request.idempotency_key,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::JoinChatResponse {
            pending_approval: joined.chat.is_none(),
            chat: joined.chat.map(to_proto_chat),
        }))
    }

    async fn check_invite(
        &self,
        request: Request<proto::CheckInviteRequest>,
    ) -> Result<Response<proto::InvitePreview>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let preview = self
            .service
            .check_invite(key, &request.invite_link)
            .await
            .map_err(to_status)?;
        let (chat_id, chat) = match preview.member_of {
            Some((chat_id, chat)) => (Some(chat_id.to_string()), chat.map(to_proto_chat)),
            None => (None, None),
        };
        Ok(Response::new(proto::InvitePreview {
            already_member: chat_id.is_some(),
            chat,
            title: preview.title,
            about: preview.about,
            kind: preview.kind,
            members_count: preview.members_count,
            request_needed: preview.request_needed,
            public: preview.public,
            chat_id,
        }))
    }

    async fn export_invite(
        &self,
        request: Request<proto::ExportInviteRequest>,
    ) -> Result<Response<proto::InviteLink>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        let link = self
            .service
            .export_invite(
                key,
                chat_id,
                request.expire_date,
                request.usage_limit,
                request.title,
                request.request_needed,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(invite_link_to_proto(link, chat_id)))
    }

    async fn list_invites(
        &self,
        request: Request<proto::ListInvitesRequest>,
    ) -> Result<Response<proto::InviteLinksPage>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        let (page, next_cursor) = self
            .service
            .list_invites(
                key,
                chat_id,
                request.revoked,
                request.limit,
                request.cursor.as_deref(),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::InviteLinksPage {
            links: page
                .links
                .into_iter()
                .map(|link| invite_link_to_proto(link, chat_id))
                .collect(),
            count: page.count,
            next_cursor,
        }))
    }

    async fn edit_invite(
        &self,
        request: Request<proto::EditInviteRequest>,
    ) -> Result<Response<proto::InviteLink>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        let change = crate::service::InviteChange {
            invite_link: request.invite_link,
            revoke: request.revoke,
            expire_date: request.expire_date,
            usage_limit: request.usage_limit,
            title: request.title,
            request_needed: request.request_needed,
        };
        let link = self
            .service
            .edit_invite(key, chat_id, change, &request.idempotency_key)
            .await
            .map_err(to_status)?;
        Ok(Response::new(invite_link_to_proto(link, chat_id)))
    }

    async fn list_join_requests(
        &self,
        request: Request<proto::ListJoinRequestsRequest>,
    ) -> Result<Response<proto::JoinRequestsPage>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        let (page, next_cursor) = self
            .service
            .join_requests(key, chat_id, request.limit, request.cursor.as_deref())
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::JoinRequestsPage {
            requests: page
                .requests
                .into_iter()
                .map(|request| proto::JoinRequest {
                    user_id: request.user_id.to_string(),
                    date: i64::from(request.date),
                    about: request.about,
                    first_name: request.first_name,
                    last_name: request.last_name,
                    username: request.username,
                })
                .collect(),
            count: page.count,
            next_cursor,
        }))
    }

    async fn answer_join_request(
        &self,
        request: Request<proto::AnswerJoinRequestRequest>,
    ) -> Result<Response<proto::AnswerJoinRequestResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let chat_id = parse_chat_id(&request.chat_id).map_err(to_status)?;
        let (user_id, approved) = self
            .service
            .answer_join_request(
                key,
                chat_id,
                &request.user,
                request.approve,
                &request.idempotency_key,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::AnswerJoinRequestResponse {
            chat_id: chat_id.to_string(),
            user_id: user_id.to_string(),
            approved,
        }))
    }

    async fn search_telegram_messages(
        &self,
        request: Request<proto::SearchTelegramMessagesRequest>,
    ) -> Result<Response<proto::SearchTelegramMessagesResponse>, Status> {
        let mut request = request.into_inner();
        let key = self.key(request.session.take()).await?;
        let search = message_search(request)?;
        let found = self
            .service
            .search_telegram_messages(key, &search)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::SearchTelegramMessagesResponse::pack(
            found,
        )))
    }

    async fn list_contacts(
        &self,
        request: Request<proto::ListContactsRequest>,
    ) -> Result<Response<proto::ListContactsResponse>, Status> {
        let key = self.key(request.into_inner().session).await?;
        let contacts = self.service.contacts(key).await.map_err(to_status)?;
        Ok(Response::new(proto::ListContactsResponse {
            contacts: contacts.iter().map(to_proto_contact).collect(),
        }))
    }

    async fn get_own_profile(
        &self,
        request: Request<proto::GetOwnProfileRequest>,
    ) -> Result<Response<proto::UserProfile>, Status> {
        let key = self.key(request.into_inner().session).await?;
        let profile = self.service.own_profile(key).await.map_err(to_status)?;
        Ok(Response::new(crate::profiles::to_proto_profile(profile)))
    }

    async fn update_own_profile(
        &self,
        request: Request<proto::UpdateOwnProfileRequest>,
    ) -> Result<Response<proto::UserProfile>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let profile = self
            .service
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
            .map_err(to_status)?;
        Ok(Response::new(crate::profiles::to_proto_profile(profile)))
    }

    async fn add_contact(
        &self,
        request: Request<proto::AddContactRequest>,
    ) -> Result<Response<proto::Contact>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let contact = self
            .service
            .add_contact(
                key,
                &request.user,
                &request.first_name,
                &request.last_name,
                &request.idempotency_key,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(to_proto_contact(&contact)))
    }

    async fn delete_contact(
        &self,
        request: Request<proto::DeleteContactRequest>,
    ) -> Result<Response<proto::DeleteContactResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        self.service
            .delete_contact(key, &request.telegram_user_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::DeleteContactResponse {}))
    }

    async fn search_people(
        &self,
        request: Request<proto::SearchPeopleRequest>,
    ) -> Result<Response<proto::SearchPeopleResponse>, Status> {
        let request = request.into_inner();
        let key = self.key(request.session).await?;
        let people = self
            .service
            .search_people(key, &request.query, request.limit)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::SearchPeopleResponse {
            people: people
                .iter()
                .map(|user| {
                    let as_contact = to_proto_contact(&Contact {
                        user: user.clone(),
                        mutual: false,
                    });
                    proto::Person {
                        user: as_contact.user,
                        is_contact: user.is_contact,
                        presence: as_contact.presence,
                    }
                })
                .collect(),
        }))
    }
}

fn to_proto_contact(contact: &Contact) -> proto::Contact {
    let user = &contact.user;
    let (status, at) = presence_fields(user.presence);
    proto::Contact {
        user: Some(proto::TelegramUser {
            id: user.id.to_string(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            username: user.username.clone(),
            phone: user.phone.clone(),
            photo_id: user
                .photo
                .as_ref()
                .map(|photo| photo_reference(user.id, photo))
                .unwrap_or_default(),
        }),
        mutual: contact.mutual,
        presence: Some(proto::Presence {
            status: status.to_owned(),
            at,
        }),
    }
}

fn to_proto_step(step: LinkStep) -> proto::LoginStepResponse {
    proto::LoginStepResponse {
        step: Some(match step {
            LinkStep::PasswordNeeded { hint } => {
                proto::login_step_response::Step::PasswordHint(hint)
            }
            LinkStep::Linked(session) => {
                proto::login_step_response::Step::Session(to_proto_session(session, None))
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
