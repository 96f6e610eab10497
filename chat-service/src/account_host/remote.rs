//! A peer replica that hosts an account, reached over the internal
//! `talkapp.chat.v1.AccountHost` gRPC service. Its [`super::AccountHost`] methods are
//! written from the list in [`super::calls`] (the conversions and the mapping of statuses
//! are in [`super::wire`]); the download, a stream, is here.

use std::time::Duration;

use futures::StreamExt as _;
use talkapp_common::ErrorCode;
use talkapp_common::grpc::TraceContextInterceptor;
use talkapp_proto::chat::v1 as proto;
use talkapp_proto::chat::v1::account_host_client::AccountHostClient;
use talkapp_proto::tonic;
use talkapp_proto::tonic::codegen::InterceptedService;
use talkapp_proto::tonic::transport::{Channel, Endpoint};
use talkapp_store::AccountKey;

use super::HostError;
use super::wire::{HostRequest, account_ref, from_status};
use crate::media::{ByteRange, MediaDownload};
use crate::proto_views::file_header_from_proto;

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

    pub(super) fn client(
        &self,
    ) -> AccountHostClient<InterceptedService<Channel, TraceContextInterceptor>> {
        self.client.clone()
    }

    /// A file of an account the peer hosts: the header first, then the bytes.
    pub(super) async fn download_from_peer(
        &self,
        key: AccountKey,
        media_ref: &str,
        range: ByteRange,
    ) -> Result<MediaDownload, HostError> {
        let mut stream = self
            .client()
            .download_media(proto::DownloadMediaRequest::pack(
                account_ref(key),
                (media_ref.to_owned(), range),
            ))
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
}
