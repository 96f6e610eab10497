//! `chat-service`: the chat service as its own process (split mode).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    talkapp_common::process::run_process("chat-service", talkapp_chat_service::run).await
}
