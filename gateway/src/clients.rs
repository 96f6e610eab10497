//! Typed clients for the services behind the gateway. Handlers call these, never the
//! generated stubs; each call carries the current trace context and a deadline.

use std::time::Duration;

use talkapp_common::grpc::TraceContextInterceptor;
use talkapp_common::probe::ProbeOutcome;
use talkapp_proto::chat::v1 as chat;
use talkapp_proto::chat::v1::chat_service_client::ChatServiceClient;
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
}

impl ServiceEndpoints {
    /// The endpoints named in the gateway's configuration.
    pub fn from_config(config: &talkapp_common::config::GatewayConfig) -> Self {
        Self {
            chat: config.chat_service_url.clone(),
            media: config.media_service_url.clone(),
            search: config.search_service_url.clone(),
            realtime: config.realtime_service_url.clone(),
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
    chat: ChatServiceClient<InterceptedService<Channel, TraceContextInterceptor>>,
    health: Vec<HealthTarget>,
}

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
                client: HealthClient::new(lazy_channel(&endpoints.search, call_timeout)?),
            },
            HealthTarget {
                name: "realtime-service",
                service_name: talkapp_proto::realtime::v1::SERVICE_NAME,
                client: HealthClient::new(lazy_channel(&endpoints.realtime, call_timeout)?),
            },
        ];
        Ok(Self {
            chat: ChatServiceClient::with_interceptor(chat_channel, TraceContextInterceptor),
            health,
        })
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
