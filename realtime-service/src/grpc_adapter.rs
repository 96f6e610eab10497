//! `talkapp.realtime.v1.RealtimeService`.

use std::sync::Arc;

use talkapp_common::ErrorCode;
use talkapp_eventlog::{AccountKey, EventLog};
use talkapp_proto::realtime::v1 as proto;
use talkapp_proto::tonic::{self, Request, Response, Status};
use talkapp_store::{PushSubscription, RealtimeStore};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::live::Live;
use crate::presence::Presence;
use crate::push::Notifier;
use crate::subscribe;

/// Events buffered per stream before the stream waits for its reader.
const STREAM_BUFFER: usize = 256;
/// The longest push endpoint accepted.
const MAX_ENDPOINT_LEN: usize = 2048;

/// The gRPC face of the realtime service.
pub struct RealtimeGrpcAdapter {
    log: Arc<dyn EventLog>,
    live: Arc<Live>,
    presence: Arc<Presence>,
    notifier: Arc<Notifier>,
    store: Arc<dyn RealtimeStore>,
    closing: CancellationToken,
}

impl RealtimeGrpcAdapter {
    /// Serves `log` (its tail through `live` when this process appended it), counts in
    /// `presence`, keeps push subscriptions in `store`; event
    /// streams end when `closing` fires (their gateways resume them elsewhere, or here
    /// after the restart, from their last event).
    pub fn new(
        log: Arc<dyn EventLog>,
        live: Arc<Live>,
        presence: Arc<Presence>,
        notifier: Arc<Notifier>,
        store: Arc<dyn RealtimeStore>,
        closing: CancellationToken,
    ) -> Self {
        Self {
            log,
            live,
            presence,
            notifier,
            store,
            closing,
        }
    }

    /// The answer to adding or removing a push subscription: how many the user has now,
    /// and whether a removal removed one.
    async fn subscriptions_reply(
        &self,
        user_id: uuid::Uuid,
        removed: bool,
    ) -> Result<Response<proto::PushSubscriptionsReply>, Status> {
        let subscriptions = self
            .store
            .push_subscriptions(user_id)
            .await
            .map_err(store_status)?;
        Ok(Response::new(proto::PushSubscriptionsReply {
            subscriptions: u32::try_from(subscriptions.len()).unwrap_or(u32::MAX),
            removed,
        }))
    }
}

fn user(user_id: &str) -> Result<uuid::Uuid, Status> {
    uuid::Uuid::parse_str(user_id)
        .map_err(|_| ErrorCode::ValidationFailed.to_grpc_status("user_id must be a UUID"))
}

fn store_status(error: talkapp_store::StoreError) -> Status {
    ErrorCode::ServiceUnavailable.to_grpc_status(error.to_string())
}

#[tonic::async_trait]
impl proto::realtime_service_server::RealtimeService for RealtimeGrpcAdapter {
    type SubscribeStream = ReceiverStream<Result<proto::Event, Status>>;

    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let request = request.into_inner();
        let account = AccountKey::new(user(&request.user_id)?, request.session_index);
        // The start is fixed here, before the reply: whatever is appended once the caller
        // has the reply reaches the stream.
        let start = if request.has_since && request.since > 0 {
            subscribe::Start::After(request.since)
        } else if request.from_log_start {
            subscribe::Start::Resolved(None)
        } else {
            let newest = self
                .log
                .newest(account)
                .await
                .map_err(|error| subscribe::unavailable(&error))?;
            subscribe::Start::Resolved(newest)
        };
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(subscribe::stream(
            Arc::clone(&self.log),
            Arc::clone(&self.live),
            Arc::clone(&self.presence),
            account,
            start,
            request.connection_id,
            sender,
            self.closing.clone(),
        ));
        let mut response = Response::new(ReceiverStream::new(receiver));
        if let subscribe::Start::Resolved(Some(after)) = start {
            response.metadata_mut().insert(
                proto::START_AFTER_METADATA,
                after
                    .to_string()
                    .parse()
                    .map_err(|_| Status::internal("cursor"))?,
            );
        }
        Ok(response)
    }

    async fn presence(
        &self,
        request: Request<proto::PresenceRequest>,
    ) -> Result<Response<proto::PresenceResponse>, Status> {
        let user_id = user(&request.into_inner().user_id)?;
        Ok(Response::new(proto::PresenceResponse {
            connections: self.presence.connections(user_id).await,
        }))
    }

    async fn add_push_subscription(
        &self,
        request: Request<proto::PushSubscription>,
    ) -> Result<Response<proto::PushSubscriptionsReply>, Status> {
        let request = request.into_inner();
        let user_id = user(&request.user_id)?;
        if request.endpoint.len() > MAX_ENDPOINT_LEN
            || !(request.endpoint.starts_with("https://")
                || request.endpoint.starts_with("http://"))
        {
            return Err(ErrorCode::ValidationFailed
                .to_grpc_status("endpoint must be the push service's URL"));
        }
        // The keys must be what a browser hands over: the sender refuses them otherwise.
        talkapp_webpush::encrypt(b"check", &request.p256dh, &request.auth).map_err(|_| {
            ErrorCode::ValidationFailed
                .to_grpc_status("keys.p256dh and keys.auth must be a browser's subscription keys")
        })?;
        self.store
            .add_push_subscription(&PushSubscription {
                user_id,
                endpoint: request.endpoint,
                p256dh: request.p256dh,
                auth: request.auth,
                created_at: talkapp_store::now(),
            })
            .await
            .map_err(store_status)?;
        self.subscriptions_reply(user_id, false).await
    }

    async fn remove_push_subscription(
        &self,
        request: Request<proto::RemovePushSubscriptionRequest>,
    ) -> Result<Response<proto::PushSubscriptionsReply>, Status> {
        let request = request.into_inner();
        let user_id = user(&request.user_id)?;
        let removed = self
            .store
            .remove_push_subscription(user_id, &request.endpoint)
            .await
            .map_err(store_status)?;
        self.subscriptions_reply(user_id, removed).await
    }

    async fn push_public_key(
        &self,
        _request: Request<proto::PushPublicKeyRequest>,
    ) -> Result<Response<proto::PushPublicKeyReply>, Status> {
        Ok(Response::new(proto::PushPublicKeyReply {
            public_key: self.notifier.public_key().to_owned(),
        }))
    }
}
