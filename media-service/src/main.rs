//! `media-service`: the media service as its own process (split mode).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    talkapp_common::process::run_process("media-service", talkapp_media_service::run).await
}
