//! The OpenAPI 3.1 document, assembled from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::openapi_responses::CommonResponses;
use crate::problem::{FieldError, Problem};
use crate::routes::{
    admin, audit, auth, chats, compat, contact_list, health, linking, media, push, search,
    send_media, sessions, uploads, ws,
};

/// The whole REST API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "TalkApp API",
        description = "REST and WebSocket access to Telegram user accounts. Every error is application/problem+json with a stable `code`.",
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        auth::register::register,
        auth::login::login,
        auth::refresh::refresh,
        auth::logout::logout,
        auth::me::me,
        audit::own_audit_log,
        admin::audit,
        admin::users,
        admin::user,
        admin::disable,
        admin::enable,
        auth::gotrue::signup::signup,
        auth::gotrue::token::token,
        auth::gotrue::user::user,
        auth::gotrue::logout::logout,
        auth::gotrue::authorize::authorize,
        sessions::list_sessions,
        linking::start_login,
        linking::submit_code,
        linking::submit_password,
        linking::unlink,
        chats::list_chats,
        chats::chat_details,
        chats::history,
        chats::send_message,
        chats::message_status,
        send_media::send_media,
        media::download,
        media::signed_url,
        media::by_link,
        ws::ticket,
        ws::connect,
        push::subscribe,
        push::unsubscribe,
        push::vapid_public_key,
        compat::login::start_login,
        compat::login::verify_code,
        compat::login::verify_password,
        compat::accounts::list_accounts,
        compat::accounts::delete_account,
        compat::accounts::delete_all_accounts,
        compat::chat_lists::private_chats,
        compat::chat_lists::groups,
        compat::messages::messages,
        compat::media::download_media,
        uploads::upload,
        uploads::download,
        uploads::head,
        uploads::preview,
        uploads::delete,
        uploads::signed_url,
        search::search_chats,
        search::search_messages,
        search::search_all_messages,
        contact_list::contacts,
    ),
    components(schemas(
        Problem,
        FieldError,
        auth::Credentials,
        auth::UserView,
        auth::TokenPair,
        auth::register::Registered,
        auth::refresh::RefreshRequest,
        auth::gotrue::GoTrueSession,
        auth::gotrue::GoTrueUser,
        auth::gotrue::AppMetadata,
        auth::gotrue::GoTrueIdentity,
        auth::gotrue::error::GoTrueErrorBody,
        auth::gotrue::error::WeakPasswordReasons,
        auth::gotrue::signup::SignupRequest,
        auth::gotrue::token::TokenRequest,
        sessions::SessionList,
        sessions::SessionView,
        sessions::TelegramUserView,
        linking::StartLogin,
        linking::LoginStarted,
        linking::SubmitCode,
        linking::SubmitPassword,
        linking::PasswordNeeded,
        chats::ChatList,
        chats::ChatView,
        chats::PresenceView,
        chats::ChatDetailsView,
        chats::MessageView,
        chats::SenderView,
        chats::EntityView,
        chats::ForwardView,
        chats::MediaView,
        chats::HistoryPage,
        chats::SendMessage,
        chats::SendJobView,
        chats::SendJobMediaView,
        chats::SendJobFileView,
        send_media::SendMedia,
        send_media::SendMediaForm,
        media::MediaLink,
        ws::WsTicket,
        push::NewPushSubscription,
        push::PushKeys,
        push::OldPushSubscription,
        push::PushSubscriptions,
        push::VapidPublicKey,
        compat::login::StartLoginIn,
        compat::login::VerifyCodeIn,
        compat::login::VerifyPasswordIn,
        compat::login::LoginStartedOut,
        compat::login::LoginStepOut,
        compat::accounts::TelegramAccountsOut,
        compat::accounts::TelegramAccountOut,
        compat::accounts::LogoutOneOut,
        compat::accounts::LogoutAllOut,
        compat::accounts::LogoutResultOut,
        compat::chat_lists::PrivateChatsOut,
        compat::media::DownloadOut,
        compat::chat_lists::PrivateChatOut,
        compat::chat_lists::GroupsOut,
        compat::chat_lists::GroupOut,
        compat::messages::MessagesOut,
        compat::messages::MessageOut,
        compat::messages::FromUserOut,
        uploads::UploadedFile,
        audit::AuditPage,
        audit::AuditRecordView,
        admin::UserOverviewView,
        admin::UserList,
        admin::UserActivity,
        search::MatchView,
        search::MessageHitView,
        search::MessageHits,
        search::ChatHitView,
        search::ChatHits,
        contact_list::ContactView,
        contact_list::Contacts,
    )),
    modifiers(&BearerAuth, &CommonResponses),
    tags(
        (name = "auth", description = "Built-in accounts and tokens"),
        (name = "supabase-auth", description = "Supabase Auth (GoTrue) compatible sign-in for supabase-js (the same accounts and tokens); errors here are GoTrue's JSON, not problem+json"),
        (name = "sessions", description = "Linked Telegram accounts"),
        (name = "chats", description = "Chats, history and sending, per linked account"),
        (name = "media", description = "Telegram files (photos, documents, thumbnails, chat photos), by bearer token or signed link, with byte ranges"),
        (name = "realtime", description = "The WebSocket of events, and push notifications"),
        (name = "admin", description = "Operators only (an operator token, not a user's): every user's audit log, the users and their activity, disabling a user"),
        (name = "health", description = "Liveness, readiness, metrics"),
        (name = "files", description = "Uploaded files: streamed uploads typed by their bytes, downloads with ranges and validators, previews, deletes, signed links"),
        (name = "search", description = "Chats and messages of the linked accounts, from TalkApp's index of their cache (plain-text queries: word prefixes, any case, Uzbek apostrophes, Latin or Cyrillic)"),
        (name = "torextalkweb", description = "TorexTalkWeb compatibility: the legacy backend's paths and JSON shapes for the unchanged frontend (docs/compat/torextalkweb-contract.md); the caller is the token's user, errors are problem+json"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A TalkApp access token (POST /auth/login) or the configured identity provider's (Supabase) access token",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An operator token (`talkapp operator-token` makes one; its SHA-256 goes in operator.token_sha256)",
                    ))
                    .build(),
            ),
        );
    }
}
