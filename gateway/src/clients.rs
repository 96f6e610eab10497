//! Typed clients for the services behind the gateway. Handlers call these, never the
//! generated stubs; each call carries the current trace context and a deadline.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;

use talkapp_common::grpc::{InProcess, InProcessUploads, TraceContextInterceptor, Transport};
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

use crate::per_thread::PerThread;
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
    /// The media service's `Upload`, taking the call's messages as values (ADR 0051).
    pub media_uploads: Arc<dyn InProcessUploads>,
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

type ChatClient = ChatServiceClient<InterceptedService<Transport, TraceContextInterceptor>>;
type SearchClient = SearchServiceClient<InterceptedService<Transport, TraceContextInterceptor>>;

/// Where each HTTP worker's own connections to the chat and search services go (split
/// mode), and their bound per call.
struct WorkerEndpoints {
    chat: String,
    search: String,
    call_timeout: Duration,
}

/// Connections to every service (opened lazily, re-established after a service restart).
///
/// In split mode each HTTP worker thread has its own connections to the chat and search
/// services ([`ServiceClients::open_on_this_thread`], ADR 0055): a read's call then runs
/// on the worker's thread from the handler to the socket and back. Other threads, and
/// every other service, use the connections made at start.
pub struct ServiceClients {
    chat: ChatClient,
    /// Each HTTP worker's own chat client (split mode).
    worker_chat: PerThread<ChatClient>,
    realtime: RealtimeServiceClient<InterceptedService<Transport, TraceContextInterceptor>>,
    media: MediaServiceClient<InterceptedService<Transport, TraceContextInterceptor>>,
    /// The media service's `Upload` in this process, when it is (ADR 0051).
    media_uploads: Option<Arc<dyn InProcessUploads>>,
    /// Bounds the media calls that are not streams of file bytes.
    call_timeout: Duration,
    search: SearchClient,
    /// Each HTTP worker's own search client (split mode).
    worker_search: PerThread<SearchClient>,
    /// `None` in the embedded default: calls go to the routers in this process.
    worker_endpoints: Option<WorkerEndpoints>,
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

/// Writes the [`ServiceClients`] calls that hand a request to a service as it is. An
/// entry `name: service.rpc(Request) -> Response;` answers the service's response;
/// `name: service.rpc(Request);` answers nothing (the response is empty).
macro_rules! passed_calls {
    ($(
        $(#[$doc:meta])*
        $name:ident: $service:ident.$rpc:ident($request:ty) $(-> $response:ty)?;
    )*) => {
        impl ServiceClients {
            $(
                $(#[$doc])*
                pub async fn $name(
                    &self,
                    request: $request,
                ) -> Result<passed_answer_type!($($response)?), ApiError> {
                    Ok(passed_answer!(
                        self.$service().$rpc(request).await? $(, $response)?
                    ))
                }
            )*
        }
    };
}

/// What a passed call answers: the response, or nothing.
macro_rules! passed_answer_type {
    () => {
        ()
    };
    ($response:ty) => {
        $response
    };
}

/// The answer of a passed call from the service's reply.
macro_rules! passed_answer {
    ($reply:expr) => {{
        $reply;
    }};
    ($reply:expr, $response:ty) => {
        $reply.into_inner()
    };
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
            worker_chat: PerThread::new(),
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
            media_uploads: in_process.map(|services| Arc::clone(&services.media_uploads)),
            call_timeout,
            search: SearchServiceClient::with_interceptor(
                transport(
                    search_channel,
                    in_process.map(|services| &services.search),
                    Some(call_timeout),
                ),
                TraceContextInterceptor,
            ),
            worker_search: PerThread::new(),
            worker_endpoints: in_process.is_none().then(|| WorkerEndpoints {
                chat: endpoints.chat.clone(),
                search: endpoints.search.clone(),
                call_timeout,
            }),
            health,
        })
    }

    /// Opens this thread's own connections to the chat and search services, on the
    /// runtime it runs (split mode; in process there are no connections). The gateway
    /// calls it from its app factory, which actix runs on each HTTP worker's thread; a
    /// thread without its own uses the connections made at start.
    pub fn open_on_this_thread(&self) {
        let Some(endpoints) = &self.worker_endpoints else {
            return;
        };
        // A channel's tasks are spawned where it is made: there must be a runtime here.
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let channels = lazy_channel(&endpoints.chat, endpoints.call_timeout).and_then(|chat| {
            Ok((
                chat,
                lazy_channel(&endpoints.search, endpoints.call_timeout)?,
            ))
        });
        match channels {
            Ok((chat, search)) => {
                self.worker_chat.set(ChatServiceClient::with_interceptor(
                    Transport::Network(chat),
                    TraceContextInterceptor,
                ));
                self.worker_search
                    .set(SearchServiceClient::with_interceptor(
                        Transport::Network(search),
                        TraceContextInterceptor,
                    ));
            }
            // Not reached: the same addresses made the shared channels at start.
            Err(error) => tracing::warn!(%error, "no connections of this worker's own"),
        }
    }

    /// The chat client for a call on this thread: its own, else the shared one.
    fn chat(&self) -> ChatClient {
        self.worker_chat.get().unwrap_or_else(|| self.chat.clone())
    }

    /// The search client for a call on this thread: its own, else the shared one.
    fn search(&self) -> SearchClient {
        self.worker_search
            .get()
            .unwrap_or_else(|| self.search.clone())
    }

    fn realtime(
        &self,
    ) -> RealtimeServiceClient<InterceptedService<Transport, TraceContextInterceptor>> {
        self.realtime.clone()
    }

    /// Streams an upload to the media service (`start`, chunks, `end`): in this process
    /// the messages go as values (ADR 0051), else through the gRPC call.
    pub async fn upload(
        &self,
        messages: impl futures::Stream<Item = media::UploadRequest> + Send + 'static,
    ) -> Result<media::FileInfo, ApiError> {
        if let Some(uploads) = &self.media_uploads {
            return uploads
                .upload(messages.boxed())
                .await
                .map_err(ApiError::from_media);
        }
        Ok(self
            .media
            .clone()
            .upload(messages)
            .await
            .map_err(ApiError::from_media)?
            .into_inner())
    }

    /// An uploaded file's bytes (or a range): the header first, then the bytes.
    pub async fn download_file(
        &self,
        request: media::DownloadRequest,
    ) -> Result<Streaming<media::DownloadChunk>, ApiError> {
        Ok(self
            .media
            .clone()
            .download(request)
            .await
            .map_err(ApiError::from_media)?
            .into_inner())
    }

    /// An uploaded file's preview image: the header first, then the bytes.
    pub async fn file_preview(
        &self,
        file: media::FileRef,
    ) -> Result<Streaming<media::DownloadChunk>, ApiError> {
        Ok(self
            .media
            .clone()
            .preview(file)
            .await
            .map_err(ApiError::from_media)?
            .into_inner())
    }

    /// An uploaded file's metadata.
    pub async fn stat_file(&self, file: media::FileRef) -> Result<media::FileInfo, ApiError> {
        let mut request = talkapp_proto::tonic::Request::new(file);
        request.set_timeout(self.call_timeout);
        Ok(self
            .media
            .clone()
            .stat(request)
            .await
            .map_err(ApiError::from_media)?
            .into_inner())
    }

    /// Deletes an uploaded file.
    pub async fn delete_file(&self, file: media::FileRef) -> Result<(), ApiError> {
        let mut request = talkapp_proto::tonic::Request::new(file);
        request.set_timeout(self.call_timeout);
        self.media
            .clone()
            .delete(request)
            .await
            .map_err(ApiError::from_media)?;
        Ok(())
    }

    /// Starts linking the account of `phone`.
    pub async fn start_login(
        &self,
        user_id: Uuid,
        phone: &str,
    ) -> Result<chat::StartLoginResponse, ApiError> {
        let response = self
            .chat()
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
        self.login_code_step(user_id, Some(login_id), None, code)
            .await
    }

    /// Checks a 2FA password.
    pub async fn submit_login_password(
        &self,
        user_id: Uuid,
        login_id: &str,
        password: &str,
    ) -> Result<chat::LoginStepResponse, ApiError> {
        self.login_password_step(user_id, Some(login_id), None, password)
            .await
    }

    /// Checks a login code of the user's newest pending login of `phone` (for clients
    /// that name a login by its phone).
    pub async fn submit_login_code_by_phone(
        &self,
        user_id: Uuid,
        phone: &str,
        code: &str,
    ) -> Result<chat::LoginStepResponse, ApiError> {
        self.login_code_step(user_id, None, Some(phone), code).await
    }

    /// Checks a 2FA password of the user's newest pending login of `phone`.
    pub async fn submit_login_password_by_phone(
        &self,
        user_id: Uuid,
        phone: &str,
        password: &str,
    ) -> Result<chat::LoginStepResponse, ApiError> {
        self.login_password_step(user_id, None, Some(phone), password)
            .await
    }

    /// A login code for the login `login_id`, or (none given) the newest of `phone`.
    async fn login_code_step(
        &self,
        user_id: Uuid,
        login_id: Option<&str>,
        phone: Option<&str>,
        code: &str,
    ) -> Result<chat::LoginStepResponse, ApiError> {
        let request = chat::SubmitLoginCodeRequest {
            user_id: user_id.to_string(),
            login_id: login_id.map(str::to_owned),
            code: code.to_owned(),
            phone: phone.map(str::to_owned),
        };
        Ok(self.chat().submit_login_code(request).await?.into_inner())
    }

    /// A 2FA password for the login `login_id`, or (none given) the newest of `phone`.
    async fn login_password_step(
        &self,
        user_id: Uuid,
        login_id: Option<&str>,
        phone: Option<&str>,
        password: &str,
    ) -> Result<chat::LoginStepResponse, ApiError> {
        let request = chat::SubmitLoginPasswordRequest {
            user_id: user_id.to_string(),
            login_id: login_id.map(str::to_owned),
            password: password.to_owned(),
            phone: phone.map(str::to_owned),
        };
        Ok(self
            .chat()
            .submit_login_password(request)
            .await?
            .into_inner())
    }

    /// Logs a linked account out and forgets it.
    pub async fn unlink_account(&self, user_id: Uuid, session_index: u32) -> Result<(), ApiError> {
        self.chat()
            .unlink_account(chat::UnlinkAccountRequest {
                user_id: user_id.to_string(),
                session_index,
            })
            .await?;
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

passed_calls! {
    /// Chats of an account matching a search.
    search_chats: search.search_chats(search::SearchChatsRequest) -> search::SearchChatsResponse;
    /// Messages of one account, or of all the user's accounts, matching a search.
    search_messages: search.search_messages(search::SearchMessagesRequest)
        -> search::SearchMessagesResponse;
    /// An account's contacts, filtered and paged.
    search_contacts: search.search_contacts(search::SearchContactsRequest)
        -> search::SearchContactsResponse;
    /// A chat's details.
    chat_details: chat.get_chat(chat::GetChatRequest) -> chat::ChatDetails;
    /// A page of a chat's history (the pages the cache does not cover: ADR 0073).
    history: chat.get_history(chat::GetHistoryRequest) -> chat::GetHistoryResponse;
    /// Queues uploaded files as a message.
    send_media: chat.send_media(chat::SendMediaRequest) -> chat::SendJob;
    /// Queues a message.
    send_message: chat.send_message(chat::SendMessageRequest) -> chat::SendJob;
    /// Where a send job stands.
    message_status: chat.get_message_status(chat::GetMessageStatusRequest) -> chat::SendJob;
    /// Downloads a file of an account: the header first, then the bytes.
    download_media: chat.download_media(chat::DownloadMediaRequest)
        -> Streaming<chat::DownloadMediaChunk>;
    /// Edits a message's text.
    edit_message: chat.edit_message(chat::EditMessageRequest) -> chat::Message;
    /// Forwards messages.
    forward_messages: chat.forward_messages(chat::ForwardMessagesRequest)
        -> chat::ForwardMessagesResponse;
    /// A Telegram user's profile.
    user_profile: chat.get_user_profile(chat::GetUserProfileRequest) -> chat::UserProfile;
    /// The account's own profile.
    own_profile: chat.get_own_profile(chat::GetOwnProfileRequest) -> chat::UserProfile;
    /// Changes the account's own profile.
    update_own_profile: chat.update_own_profile(chat::UpdateOwnProfileRequest) -> chat::UserProfile;
    /// Adds a contact.
    add_contact: chat.add_contact(chat::AddContactRequest) -> chat::Contact;
    /// Telegram's people search.
    search_people: chat.search_people(chat::SearchPeopleRequest) -> chat::SearchPeopleResponse;
    /// Creates a group or channel.
    create_group: chat.create_group(chat::CreateGroupRequest) -> chat::CreateGroupResponse;
    /// Adds a member to a group or channel.
    add_member: chat.add_member(chat::AddMemberRequest) -> chat::AddMemberResponse;
    /// Removes a member, leaves, or promotes / demotes an admin.
    change_members: chat.change_members(chat::ChangeMembersRequest) -> chat::ChangeMembersResponse;
    /// Joins a chat by username or invite link.
    join_chat: chat.join_chat(chat::JoinChatRequest) -> chat::JoinChatResponse;
    /// What an invite link shows.
    check_invite: chat.check_invite(chat::CheckInviteRequest) -> chat::InvitePreview;
    /// A new invite link to a chat the account administers.
    export_invite: chat.export_invite(chat::ExportInviteRequest) -> chat::InviteLink;
    /// The account's links to a chat.
    list_invites: chat.list_invites(chat::ListInvitesRequest) -> chat::InviteLinksPage;
    /// Revokes or changes a link.
    edit_invite: chat.edit_invite(chat::EditInviteRequest) -> chat::InviteLink;
    /// A chat's pending requests to join.
    list_join_requests: chat.list_join_requests(chat::ListJoinRequestsRequest)
        -> chat::JoinRequestsPage;
    /// Approves or declines a request to join.
    answer_join_request: chat.answer_join_request(chat::AnswerJoinRequestRequest)
        -> chat::AnswerJoinRequestResponse;
    /// Changes a chat's title and / or description; the chat as listed.
    edit_chat: chat.edit_chat(chat::EditChatRequest) -> chat::Chat;
    /// Sets or removes a chat's photo; the chat as listed.
    set_chat_photo: chat.set_chat_photo(chat::SetChatPhotoRequest) -> chat::Chat;
    /// Sets or removes the account's own profile photo; the profile afterwards.
    set_own_photo: chat.set_own_photo(chat::SetOwnPhotoRequest) -> chat::UserProfile;
    /// Registers a browser's push subscription.
    add_push_subscription: realtime.add_push_subscription(realtime::PushSubscription)
        -> realtime::PushSubscriptionsReply;
    /// Forgets a browser's push subscription.
    remove_push_subscription: realtime.remove_push_subscription(
        realtime::RemovePushSubscriptionRequest
    )
        -> realtime::PushSubscriptionsReply;
    /// Tells a chat what the user is doing.
    send_chat_action: chat.send_chat_action(chat::SendChatActionRequest);
    /// Deletes messages.
    delete_messages: chat.delete_messages(chat::DeleteMessagesRequest);
    /// Pins or unpins a message.
    pin_message: chat.pin_message(chat::PinMessageRequest);
    /// Unpins every pinned message of a chat.
    unpin_all_messages: chat.unpin_all_messages(chat::UnpinAllMessagesRequest);
    /// Deletes a contact.
    delete_contact: chat.delete_contact(chat::DeleteContactRequest);
    /// Marks a chat read.
    mark_read: chat.mark_read(chat::MarkReadRequest);
}
