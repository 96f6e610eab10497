//! Typed clients for the services behind the gateway. Handlers call these, never the
//! generated stubs; each call carries the current trace context and a deadline.

use std::time::Duration;

use talkapp_common::grpc::{InProcess, TraceContextInterceptor, Transport};
use talkapp_common::probe::ProbeOutcome;
use talkapp_proto::chat::v1 as chat;
use talkapp_proto::chat::v1::chat_service_client::ChatServiceClient;
use talkapp_proto::media::v1 as media;
use talkapp_proto::media::v1::media_service_client::MediaServiceClient;
use talkapp_proto::realtime::v1 as realtime;
use talkapp_proto::realtime::v1::realtime_service_client::RealtimeServiceClient;
use talkapp_proto::search::v1 as search;
use talkapp_proto::search::v1::search_service_client::SearchServiceClient;
use talkapp_proto::tonic::Streaming;
use talkapp_proto::tonic::codegen::InterceptedService;
use talkapp_proto::tonic::transport::{Channel, Endpoint};
use talkapp_proto::tonic_health::pb::HealthCheckRequest;
use talkapp_proto::tonic_health::pb::health_check_response::ServingStatus;
use talkapp_proto::tonic_health::pb::health_client::HealthClient;
use uuid::Uuid;

use crate::problem::ApiError;

/// Where each service listens.
#[derive(Debug, Clone)]
pub struct ServiceEndpoints {
    /// The chat service.
    pub chat: String,
    /// The media service.
    pub media: String,
    /// The search service.
    pub search: String,
    /// The realtime service.
    pub realtime: String,
    /// The services' routers in this process (the embedded default): calls go to them
    /// directly instead of through the addresses above, which still serve health.
    pub in_process: Option<InProcessServices>,
}

/// The services' gRPC routers, when they run in the gateway's process.
#[derive(Debug, Clone)]
pub struct InProcessServices {
    /// The chat service.
    pub chat: InProcess,
    /// The media service.
    pub media: InProcess,
    /// The search service.
    pub search: InProcess,
    /// The realtime service.
    pub realtime: InProcess,
}

impl ServiceEndpoints {
    /// The endpoints named in the gateway's configuration.
    pub fn from_config(config: &talkapp_common::config::GatewayConfig) -> Self {
        Self {
            chat: config.chat_service_url.clone(),
            media: config.media_service_url.clone(),
            search: config.search_service_url.clone(),
            realtime: config.realtime_service_url.clone(),
            in_process: None,
        }
    }
}

struct HealthTarget {
    name: &'static str,
    service_name: &'static str,
    client: HealthClient<Channel>,
}

/// Connections to every service (opened lazily, re-established after a service restart).
pub struct ServiceClients {
    chat: ChatServiceClient<InterceptedService<Transport, TraceContextInterceptor>>,
    realtime: RealtimeServiceClient<InterceptedService<Transport, TraceContextInterceptor>>,
    media: MediaServiceClient<InterceptedService<Transport, TraceContextInterceptor>>,
    /// Bounds the media calls that are not streams of file bytes.
    call_timeout: Duration,
    search: SearchServiceClient<InterceptedService<Transport, TraceContextInterceptor>>,
    health: Vec<HealthTarget>,
}

/// Largest gRPC message the gateway takes from the media service (a 256 KiB chunk and
/// its header).
const MAX_MEDIA_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

fn lazy_channel(url: &str, call_timeout: Duration) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(url.to_owned())?
        // A service that is down is reported quickly instead of holding the request.
        .connect_timeout(Duration::from_secs(1))
        .timeout(call_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect_lazy())
}

impl ServiceClients {
    /// Clients for `endpoints`; every call is bounded by `call_timeout`.
    pub fn connect_lazy(
        endpoints: &ServiceEndpoints,
        call_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let chat_channel = lazy_channel(&endpoints.chat, call_timeout)?;
        // Event streams last as long as their WebSocket: no call timeout on this channel
        // (its unary calls are quick).
        let realtime_channel = Endpoint::from_shared(endpoints.realtime.clone())?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true)
            .connect_lazy();
        // Uploads and downloads of big files last as long as the bytes take: no call
        // timeout on this channel; unary calls get one per request.
        let media_channel = Endpoint::from_shared(endpoints.media.clone())?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .connect_lazy();
        let search_channel = lazy_channel(&endpoints.search, call_timeout)?;
        let in_process = endpoints.in_process.as_ref();
        // In process, a call is bounded as its channel would bound it.
        let transport = |channel: Channel,
                         routes: Option<&InProcess>,
                         timeout: Option<Duration>| match routes {
            Some(routes) => Transport::InProcess(routes.with_timeout(timeout)),
            None => Transport::Network(channel),
        };
        let health = vec![
            HealthTarget {
                name: "chat-service",
                service_name: talkapp_proto::chat::v1::SERVICE_NAME,
                client: HealthClient::new(chat_channel.clone()),
            },
            HealthTarget {
                name: "media-service",
                service_name: talkapp_proto::media::v1::SERVICE_NAME,
                client: HealthClient::new(lazy_channel(&endpoints.media, call_timeout)?),
            },
            HealthTarget {
                name: "search-service",
                service_name: talkapp_proto::search::v1::SERVICE_NAME,
                client: HealthClient::new(search_channel.clone()),
            },
            HealthTarget {
                name: "realtime-service",
                service_name: talkapp_proto::realtime::v1::SERVICE_NAME,
                client: HealthClient::new(lazy_channel(&endpoints.realtime, call_timeout)?),
            },
        ];
        Ok(Self {
            chat: ChatServiceClient::with_interceptor(
                transport(
                    chat_channel,
                    in_process.map(|services| &services.chat),
                    Some(call_timeout),
                ),
                TraceContextInterceptor,
            ),
            realtime: RealtimeServiceClient::with_interceptor(
                transport(
                    realtime_channel,
                    in_process.map(|services| &services.realtime),
                    None,
                ),
                TraceContextInterceptor,
            ),
            media: MediaServiceClient::with_interceptor(
                transport(
                    media_channel,
                    in_process.map(|services| &services.media),
                    None,
                ),
                TraceContextInterceptor,
            )
            .max_decoding_message_size(MAX_MEDIA_MESSAGE_BYTES),
            call_timeout,
            search: SearchServiceClient::with_interceptor(
                transport(
                    search_channel,
                    in_process.map(|services| &services.search),
                    Some(call_timeout),
                ),
                TraceContextInterceptor,
            ),
            health,
        })
    }

    /// Streams an upload to the media service (`start`, chunks, `end`).
    pub async fn upload(
        &self,
        messages: impl futures::Stream<Item = media::UploadRequest> + Send + 'static,
    ) -> Result<media::FileInfo, ApiError> {
        Ok(self.media.clone().upload(messages).await?.into_inner())
    }

    /// An uploaded file's bytes (or a range): the header first, then the bytes.
    pub async fn download_file(
        &self,
        request: media::DownloadRequest,
    ) -> Result<Streaming<media::DownloadChunk>, ApiError> {
        Ok(self.media.clone().download(request).await?.into_inner())
    }

    /// An uploaded file's preview image: the header first, then the bytes.
    pub async fn file_preview(
        &self,
        file: media::FileRef,
    ) -> Result<Streaming<media::DownloadChunk>, ApiError> {
        Ok(self.media.clone().preview(file).await?.into_inner())
    }

    /// An uploaded file's metadata.
    pub async fn stat_file(&self, file: media::FileRef) -> Result<media::FileInfo, ApiError> {
        let mut request = talkapp_proto::tonic::Request::new(file);
        request.set_timeout(self.call_timeout);
        Ok(self.media.clone().stat(request).await?.into_inner())
    }

    /// Deletes an uploaded file.
    pub async fn delete_file(&self, file: media::FileRef) -> Result<(), ApiError> {
        let mut request = talkapp_proto::tonic::Request::new(file);
        request.set_timeout(self.call_timeout);
        self.media.clone().delete(request).await?;
        Ok(())
    }

    /// The Telegram accounts `user_id` has linked.
    pub async fn list_sessions(&self, user_id: Uuid) -> Result<Vec<chat::Session>, ApiError> {
        let response = self
            .chat
            .clone()
            .list_sessions(chat::ListSessionsRequest {
                user_id: user_id.to_string(),
            })
            .await?;
        Ok(response.into_inner().sessions)
    }

    /// Starts linking the account of `phone`.
    pub async fn start_login(
        &self,
        user_id: Uuid,
        phone: &str,
    ) -> Result<chat::StartLoginResponse, ApiError> {
        let response = self
            .chat
            .clone()
            .start_login(chat::StartLoginRequest {
                user_id: user_id.to_string(),
                phone: phone.to_owned(),
            })
            .await?;
        Ok(response.into_inner())
    }

    /// Checks a login code.
    pub async fn submit_login_code(
        &self,
        user_id: Uuid,
        login_id: &str,
        code: &str,
    ) -> Result<chat::LoginStepResponse, ApiError> {
        let response = self
            .chat
            .clone()
            .submit_login_code(chat::SubmitLoginCodeRequest {
                user_id: user_id.to_string(),
                login_id: login_id.to_owned(),
                code: code.to_owned(),
                phone: String::new(),
            })
            .await?;
        Ok(response.into_inner())
    }

    /// Checks a 2FA password.
    pub async fn submit_login_password(
        &self,
        user_id: Uuid,
        login_id: &str,
        password: &str,
    ) -> Result<chat::LoginStepResponse, ApiError> {
        let response = self
            .chat
            .clone()
            .submit_login_password(chat::SubmitLoginPasswordRequest {
                user_id: user_id.to_string(),
                login_id: login_id.to_owned(),
                password: password.to_owned(),
                phone: String::new(),
            })
            .await?;
        Ok(response.into_inner())
    }

    /// Checks a login code of the user's newest pending login of `phone` (for clients
    /// that name a login by its phone).
    pub async fn submit_login_code_by_phone(
        &self,
        user_id: Uuid,
        phone: &str,
        code: &str,
    ) -> Result<chat::LoginStepResponse, ApiError> {
        let response = self
            .chat
            .clone()
            .submit_login_code(chat::SubmitLoginCodeRequest {
                user_id: user_id.to_string(),
                login_id: String::new(),
                code: code.to_owned(),
                phone: phone.to_owned(),
            })
            .await?;
        Ok(response.into_inner())
    }

    /// Checks a 2FA password of the user's newest pending login of `phone`.
    pub async fn submit_login_password_by_phone(
        &self,
        user_id: Uuid,
        phone: &str,
        password: &str,
    ) -> Result<chat::LoginStepResponse, ApiError> {
        let response = self
            .chat
            .clone()
            .submit_login_password(chat::SubmitLoginPasswordRequest {
                user_id: user_id.to_string(),
                login_id: String::new(),
                password: password.to_owned(),
                phone: phone.to_owned(),
            })
            .await?;
        Ok(response.into_inner())
    }

    /// Logs a linked account out and forgets it.
    pub async fn unlink_session(&self, user_id: Uuid, session_index: u32) -> Result<(), ApiError> {
        self.chat
            .clone()
            .unlink_session(chat::UnlinkSessionRequest {
                user_id: user_id.to_string(),
                session_index,
            })
            .await?;
        Ok(())
    }

    /// Chats of an account matching a search.
    pub async fn search_chats(
        &self,
        request: search::SearchChatsRequest,
    ) -> Result<search::SearchChatsResponse, ApiError> {
        Ok(self
            .search
            .clone()
            .search_chats(request)
            .await?
            .into_inner())
    }

    /// Messages of one account, or of all the user's accounts, matching a search.
    pub async fn search_messages(
        &self,
        request: search::SearchMessagesRequest,
    ) -> Result<search::SearchMessagesResponse, ApiError> {
        Ok(self
            .search
            .clone()
            .search_messages(request)
            .await?
            .into_inner())
    }

    /// An account's contacts, filtered and paged.
    pub async fn search_contacts(
        &self,
        request: search::SearchContactsRequest,
    ) -> Result<search::SearchContactsResponse, ApiError> {
        Ok(self
            .search
            .clone()
            .search_contacts(request)
            .await?
            .into_inner())
    }

    /// A page of an account's chats.
    pub async fn list_chats(
        &self,
        request: chat::ListChatsRequest,
    ) -> Result<chat::ListChatsResponse, ApiError> {
        Ok(self.chat.clone().list_chats(request).await?.into_inner())
    }

    /// A chat's details.
    pub async fn chat_details(
        &self,
        request: chat::GetChatRequest,
    ) -> Result<chat::ChatDetails, ApiError> {
        Ok(self.chat.clone().get_chat(request).await?.into_inner())
    }

    /// A page of a chat's history.
    pub async fn history(
        &self,
        request: chat::GetHistoryRequest,
    ) -> Result<chat::GetHistoryResponse, ApiError> {
        Ok(self.chat.clone().get_history(request).await?.into_inner())
    }

    /// Queues uploaded files as a message.
    pub async fn send_media(
        &self,
        request: chat::SendMediaRequest,
    ) -> Result<chat::SendJob, ApiError> {
        Ok(self.chat.clone().send_media(request).await?.into_inner())
    }

    /// Queues a message.
    pub async fn send_message(
        &self,
        request: chat::SendMessageRequest,
    ) -> Result<chat::SendJob, ApiError> {
        Ok(self.chat.clone().send_message(request).await?.into_inner())
    }

    /// Where a send job stands.
    pub async fn message_status(
        &self,
        request: chat::GetMessageStatusRequest,
    ) -> Result<chat::SendJob, ApiError> {
        Ok(self
            .chat
            .clone()
            .get_message_status(request)
            .await?
            .into_inner())
    }

    /// Tells a chat what the user is doing.
    pub async fn send_chat_action(
        &self,
        request: chat::SendChatActionRequest,
    ) -> Result<(), ApiError> {
        self.chat.clone().send_chat_action(request).await?;
        Ok(())
    }

    /// Downloads a file of an account: the header first, then the bytes.
    pub async fn download_media(
        &self,
        request: chat::DownloadMediaRequest,
    ) -> Result<Streaming<chat::DownloadMediaChunk>, ApiError> {
        Ok(self
            .chat
            .clone()
            .download_media(request)
            .await?
            .into_inner())
    }

    /// Edits a message's text.
    pub async fn edit_message(
        &self,
        request: chat::EditMessageRequest,
    ) -> Result<chat::Message, ApiError> {
        Ok(self.chat.clone().edit_message(request).await?.into_inner())
    }

    /// Deletes messages.
    pub async fn delete_messages(
        &self,
        request: chat::DeleteMessagesRequest,
    ) -> Result<(), ApiError> {
        self.chat.clone().delete_messages(request).await?;
        Ok(())
    }

    /// Pins or unpins a message.
    pub async fn pin_message(&self, request: chat::PinMessageRequest) -> Result<(), ApiError> {
        self.chat.clone().pin_message(request).await?;
        Ok(())
    }

    /// Unpins every pinned message of a chat.
    pub async fn unpin_all_messages(
        &self,
        request: chat::UnpinAllMessagesRequest,
    ) -> Result<(), ApiError> {
        self.chat.clone().unpin_all_messages(request).await?;
        Ok(())
    }

    /// Forwards messages.
    pub async fn forward_messages(
        &self,
        request: chat::ForwardMessagesRequest,
    ) -> Result<chat::ForwardMessagesResponse, ApiError> {
        Ok(self
            .chat
            .clone()
            .forward_messages(request)
            .await?
            .into_inner())
    }

    /// A Telegram user's profile.
    pub async fn user_profile(
        &self,
        request: chat::GetUserProfileRequest,
    ) -> Result<chat::UserProfile, ApiError> {
        Ok(self
            .chat
            .clone()
            .get_user_profile(request)
            .await?
            .into_inner())
    }

    /// The account's own profile.
    pub async fn own_profile(
        &self,
        request: chat::GetOwnProfileRequest,
    ) -> Result<chat::UserProfile, ApiError> {
        Ok(self
            .chat
            .clone()
            .get_own_profile(request)
            .await?
            .into_inner())
    }

    /// Changes the account's own profile.
    pub async fn update_own_profile(
        &self,
        request: chat::UpdateOwnProfileRequest,
    ) -> Result<chat::UserProfile, ApiError> {
        Ok(self
            .chat
            .clone()
            .update_own_profile(request)
            .await?
            .into_inner())
    }

    /// Adds a contact.
    pub async fn add_contact(
        &self,
        request: chat::AddContactRequest,
    ) -> Result<chat::Contact, ApiError> {
        Ok(self.chat.clone().add_contact(request).await?.into_inner())
    }

    /// Deletes a contact.
    pub async fn delete_contact(
        &self,
        request: chat::DeleteContactRequest,
    ) -> Result<(), ApiError> {
        self.chat.clone().delete_contact(request).await?;
        Ok(())
    }

    /// Telegram's people search.
    pub async fn search_people(
        &self,
        request: chat::SearchPeopleRequest,
    ) -> Result<chat::SearchPeopleResponse, ApiError> {
        Ok(self.chat.clone().search_people(request).await?.into_inner())
    }

    /// Creates a group or channel.
    pub async fn create_group(
        &self,
        request: chat::CreateGroupRequest,
    ) -> Result<chat::CreateGroupResponse, ApiError> {
        Ok(self.chat.clone().create_group(request).await?.into_inner())
    }

    /// Adds a member to a group or channel.
    pub async fn add_member(
        &self,
        request: chat::AddMemberRequest,
    ) -> Result<chat::AddMemberResponse, ApiError> {
        Ok(self.chat.clone().add_member(request).await?.into_inner())
    }

    /// Removes a member, leaves, or promotes / demotes an admin.
    pub async fn change_members(
        &self,
        request: chat::ChangeMembersRequest,
    ) -> Result<chat::ChangeMembersResponse, ApiError> {
        Ok(self
            .chat
            .clone()
            .change_members(request)
            .await?
            .into_inner())
    }

    /// Joins a chat by username or invite link.
    pub async fn join_chat(
        &self,
        request: chat::JoinChatRequest,
    ) -> Result<chat::JoinChatResponse, ApiError> {
        Ok(self.chat.clone().join_chat(request).await?.into_inner())
    }

    /// What an invite link shows.
    pub async fn check_invite(
        &self,
        request: chat::CheckInviteRequest,
    ) -> Result<chat::InvitePreview, ApiError> {
        Ok(self.chat.clone().check_invite(request).await?.into_inner())
    }

    /// A new invite link to a chat the account administers.
    pub async fn export_invite(
        &self,
        request: chat::ExportInviteRequest,
    ) -> Result<chat::InviteLink, ApiError> {
        Ok(self.chat.clone().export_invite(request).await?.into_inner())
    }

    /// Changes a chat's title and / or description; the chat as listed.
    pub async fn edit_chat(&self, request: chat::EditChatRequest) -> Result<chat::Chat, ApiError> {
        Ok(self.chat.clone().edit_chat(request).await?.into_inner())
    }

    /// Sets or removes a chat's photo; the chat as listed.
    pub async fn set_chat_photo(
        &self,
        request: chat::SetChatPhotoRequest,
    ) -> Result<chat::Chat, ApiError> {
        Ok(self
            .chat
            .clone()
            .set_chat_photo(request)
            .await?
            .into_inner())
    }

    /// Sets or removes the account's own profile photo; the profile afterwards.
    pub async fn set_own_photo(
        &self,
        request: chat::SetOwnPhotoRequest,
    ) -> Result<chat::UserProfile, ApiError> {
        Ok(self.chat.clone().set_own_photo(request).await?.into_inner())
    }

    /// Marks a chat read.
    pub async fn mark_read(&self, request: chat::MarkReadRequest) -> Result<(), ApiError> {
        self.chat.clone().mark_read(request).await?;
        Ok(())
    }

    /// An account's event stream, and (without `since`) the id it starts after; `None`
    /// there means the log was empty (resume with `from_log_start`).
    pub async fn subscribe_events(
        &self,
        request: realtime::SubscribeRequest,
    ) -> Result<(Streaming<realtime::Event>, Option<i64>), ApiError> {
        let response = self.realtime.clone().subscribe(request).await?;
        let start_after = response
            .metadata()
            .get(realtime::START_AFTER_METADATA)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        Ok((response.into_inner(), start_after))
    }

    /// How many live connections a user has.
    pub async fn presence(&self, user_id: Uuid) -> Result<u32, ApiError> {
        Ok(self
            .realtime
            .clone()
            .presence(realtime::PresenceRequest {
                user_id: user_id.to_string(),
            })
            .await?
            .into_inner()
            .connections)
    }

    /// Registers a browser's push subscription.
    pub async fn add_push_subscription(
        &self,
        request: realtime::PushSubscription,
    ) -> Result<realtime::PushSubscriptionsReply, ApiError> {
        Ok(self
            .realtime
            .clone()
            .add_push_subscription(request)
            .await?
            .into_inner())
    }

    /// Forgets a browser's push subscription.
    pub async fn remove_push_subscription(
        &self,
        request: realtime::RemovePushSubscriptionRequest,
    ) -> Result<realtime::PushSubscriptionsReply, ApiError> {
        Ok(self
            .realtime
            .clone()
            .remove_push_subscription(request)
            .await?
            .into_inner())
    }

    /// The VAPID public key for `applicationServerKey`.
    pub async fn push_public_key(&self) -> Result<String, ApiError> {
        Ok(self
            .realtime
            .clone()
            .push_public_key(realtime::PushPublicKeyRequest {})
            .await?
            .into_inner()
            .public_key)
    }

    /// Each service's gRPC health, each check bounded by `timeout`.
    pub async fn health(&self, timeout: Duration) -> Vec<ProbeOutcome> {
        futures::future::join_all(self.health.iter().map(|target| async move {
            let mut client = target.client.clone();
            let check = client.check(HealthCheckRequest {
                service: target.service_name.to_owned(),
            });
            let error = match tokio::time::timeout(timeout, check).await {
                Ok(Ok(response)) if response.get_ref().status == ServingStatus::Serving as i32 => {
                    None
                }
                Ok(Ok(response)) => Some(format!(
                    "not serving ({:?})",
                    ServingStatus::try_from(response.get_ref().status)
                        .unwrap_or(ServingStatus::Unknown)
                )),
                Ok(Err(status)) => Some(format!("unreachable: {}", status.message())),
                Err(_) => Some(format!("no answer within {} ms", timeout.as_millis())),
            };
            ProbeOutcome {
                name: target.name,
                ok: error.is_none(),
                error,
            }
        }))
        .await
    }
}
