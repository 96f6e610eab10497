//! `talkapp.chat.v1.ChatService` over [`ChatService`].

use chrono::SecondsFormat;
use talkapp_proto::chat::v1 as proto;
use talkapp_proto::tonic::{self, Request, Response, Status};
use talkapp_store::{SessionStatus, TelegramSession};

use crate::service::{ChatError, ChatService};

/// The gRPC face of [`ChatService`].
pub struct ChatGrpcAdapter {
    service: ChatService,
}

impl ChatGrpcAdapter {
    /// Wraps `service`.
    pub fn new(service: ChatService) -> Self {
        Self { service }
    }
}

fn to_status(error: ChatError) -> Status {
    let code = error.code();
    match code.http_status() {
        500.. => {
            tracing::warn!(%error, "chat call failed");
            code.to_grpc_status("internal error")
        }
        _ => code.to_grpc_status(error.to_string()),
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

fn to_proto_session(session: TelegramSession) -> proto::Session {
    proto::Session {
        session_index: session.session_index,
        telegram_user: Some(proto::TelegramUser {
            id: session.account.telegram_user_id.to_string(),
            first_name: session.account.first_name,
            last_name: session.account.last_name,
            username: session.account.username,
            phone: session.account.phone,
        }),
        status: to_proto_status(session.status).into(),
        linked_at: session
            .linked_at
            .to_rfc3339_opts(SecondsFormat::Millis, true),
    }
}

#[tonic::async_trait]
impl proto::chat_service_server::ChatService for ChatGrpcAdapter {
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
            sessions: sessions.into_iter().map(to_proto_session).collect(),
        }))
    }
}
