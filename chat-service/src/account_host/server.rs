//! The gRPC face of this replica's [`LocalHost`] for the other replicas: it serves the
//! accounts connected here and never passes a call on. Its calls are written from the
//! list in [`super::calls`]; the download, a stream, is here.

use std::sync::Arc;

use talkapp_proto::chat::v1 as proto;
use talkapp_proto::tonic::{Response, Status};

use super::wire::{DownloadStream, HostRequest, account_key, download_stream, to_status};
use super::{AccountHost, LocalHost};

/// The gRPC face of this replica's [`LocalHost`] (`talkapp.chat.v1.AccountHost`).
pub struct AccountHostGrpcAdapter {
    pub(super) local: Arc<LocalHost>,
}

impl AccountHostGrpcAdapter {
    /// Wraps `local`.
    pub fn new(local: Arc<LocalHost>) -> Self {
        Self { local }
    }

    /// A file of an account hosted here: the header first, then the bytes.
    pub(super) async fn serve_download(
        &self,
        mut request: proto::DownloadMediaRequest,
    ) -> Result<Response<DownloadStream>, Status> {
        let key = account_key(request.account.take())?;
        let (media_ref, range) = request.unpack()?;
        let download = self
            .local
            .download(key, &media_ref, range)
            .await
            .map_err(|error| to_status(&error))?;
        Ok(Response::new(download_stream(download)))
    }
}
