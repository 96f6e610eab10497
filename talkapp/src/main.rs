//! `talkapp`: the whole backend in one process (the embedded default), or any one part of
//! it: `talkapp [all|gateway|chat-service|media-service|search-service|realtime-service]`.
//! A part runs exactly what its own binary runs; one image then serves every role.
//! `talkapp operator-token` prints a new operator token and the hash to configure for it.

const USAGE: &str = "usage: talkapp [all|gateway|chat-service|media-service|search-service|realtime-service|operator-token] [--config FILE]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let role = role_argument(std::env::args().skip(1)).unwrap_or_else(|| "all".to_owned());
    use talkapp_common::process::run_process;
    match role.as_str() {
        "all" => run_process("talkapp", talkapp::run_all).await,
        "gateway" => run_process("gateway", talkapp_gateway::run).await,
        "chat-service" => run_process("chat-service", talkapp_chat_service::run).await,
        "media-service" => run_process("media-service", talkapp_media_service::run).await,
        "search-service" => run_process("search-service", talkapp_search_service::run).await,
        "realtime-service" => run_process("realtime-service", talkapp_realtime_service::run).await,
        "operator-token" => {
            let (token, hash) = talkapp_gateway::auth::operator::new_operator_token();
            println!("operator token (give it to the operator; it is not stored): {token}");
            println!("configure its hash: TALKAPP_OPERATOR__TOKEN_SHA256={hash}");
            Ok(())
        }
        "help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => anyhow::bail!("unknown role {other:?}; {USAGE}"),
    }
}

/// The first argument that is neither an option nor the value of `--config`.
fn role_argument(mut args: impl Iterator<Item = String>) -> Option<String> {
    while let Some(arg) = args.next() {
        if arg == "--config" {
            args.next();
        } else if !arg.starts_with("--") {
            return Some(arg);
        }
    }
    None
}
