//! Stable error codes shared by the REST API (problem+json `code`) and gRPC.
//!
//! A code never changes meaning once published; clients switch on it. Each maps to one
//! HTTP status and one `tonic::Code`, exhaustively, so adding a code forces a decision in
//! both places.

use tonic::Code;

/// A stable, machine-readable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No or unusable credentials.
    Unauthenticated,
    /// The access token has expired.
    TokenExpired,
    /// The token's signature, issuer or audience is not accepted.
    TokenInvalid,
    /// The sign-in session was ended (logout, inactivity, refresh reuse).
    SessionExpired,
    /// Email or password is wrong.
    InvalidCredentials,
    /// The refresh token is unknown or expired.
    RefreshTokenInvalid,
    /// A spent refresh token was presented again; its whole family is revoked.
    RefreshTokenReused,
    /// Authenticated, but this resource belongs to someone else.
    Forbidden,
    /// An operator disabled this account; it cannot sign in.
    AccountDisabled,
    /// No such resource (or route).
    NotFound,
    /// The HTTP method is not served on this path.
    MethodNotAllowed,
    /// The request body is not valid JSON.
    MalformedJson,
    /// The body or a parameter failed validation.
    ValidationFailed,
    /// The body is larger than accepted.
    PayloadTooLarge,
    /// The `Content-Type` is not accepted here.
    UnsupportedMediaType,
    /// The email is already registered.
    EmailTaken,
    /// Telegram does not accept the phone number.
    PhoneInvalid,
    /// This user has linked this phone already.
    PhoneAlreadyLinked,
    /// The login code is wrong.
    TelegramCodeInvalid,
    /// The 2FA password is wrong.
    TelegramPasswordInvalid,
    /// The number has no Telegram account (accounts are created in the official apps).
    TelegramAccountMissing,
    /// No such pending login (or not this user's).
    LoginNotFound,
    /// The pending login expired or used up its attempts; start again.
    LoginExpired,
    /// The login is not at this step (a password before the code, say).
    LoginStepMismatch,
    /// Telegram asks to wait; see `Retry-After`.
    TelegramFloodWait,
    /// Telegram cannot be reached right now.
    TelegramUnavailable,
    /// Too many requests; see `Retry-After`.
    RateLimited,
    /// The user holds as many live connections (WebSockets) as allowed; close one first.
    TooManyConnections,
    /// The file is larger than this deployment serves (`downloads.max_file_bytes`).
    MediaTooLarge,
    /// The requested byte range lies outside the file; see `Content-Range`.
    RangeNotSatisfiable,
    /// A signed media link whose time is up: ask for a new one.
    MediaLinkExpired,
    /// A signed media link that was altered or not issued here.
    MediaLinkInvalid,
    /// The upload would take the user's files past their quota (`media.quota_bytes`).
    QuotaExceeded,
    /// The server's storage is full (its disk or its filesystem quota): the upload could
    /// not be written and nothing of it was kept; see `Retry-After`. Not the user's quota.
    InsufficientStorage,
    /// The file's preview image is still being made (a video's frame, a PDF's page, made
    /// after the upload answered); see `Retry-After`.
    PreviewPending,
    /// The file's bytes are of a type not accepted (executables, unknown binaries).
    FileTypeNotAllowed,
    /// An image larger (in pixels) than accepted; refused from its header.
    ImageTooLarge,
    /// The upload had no bytes.
    EmptyFile,
    /// The upload ended before all of it arrived (truncated body, client gone).
    UploadIncomplete,
    /// The file cannot be sent as the kind asked for (a PDF as a photo, a voice note in an
    /// album).
    MediaKindNotSendable,
    /// A dependency (database, service, broker) is not reachable right now.
    ServiceUnavailable,
    /// A dependency did not answer in time.
    Timeout,
    /// The client did not send its request (its body) within the gateway's deadline.
    RequestTimeout,
    /// Something failed that the caller cannot fix; details are in the logs only.
    Internal,
    /// The user's Telegram privacy settings do not let this account do it (add them to
    /// a group, say).
    TelegramPrivacyRestricted,
    /// Telegram wants admin rights in the chat for this.
    TelegramAdminRequired,
    /// The user is in the chat already.
    AlreadyParticipant,
    /// An `Idempotency-Key` (or `client_request_id`) used before with another request.
    IdempotencyKeyReused,
    /// The first request with this idempotency key is still being carried out.
    RequestInProgress,
    /// Another Telegram user or channel holds the username.
    UsernameTaken,
    /// Telegram does not accept the username.
    UsernameInvalid,
    /// The user named is not a member of the chat (Telegram's `USER_NOT_PARTICIPANT`).
    NotParticipant,
    /// The member is an admin this account may not remove or change (one it did not
    /// promote; Telegram's `USER_ADMIN_INVALID`).
    TelegramAdminInvalid,
    /// The chat's creator cannot do this or have it done (leave their channel, be
    /// demoted; Telegram's `USER_CREATOR`).
    ChatCreator,
    /// The invite link was revoked, expired or used up (Telegram's `INVITE_HASH_EXPIRED`).
    InviteExpired,
    /// No such invite link (Telegram's `INVITE_HASH_INVALID` / `INVITE_HASH_EMPTY`).
    InviteInvalid,
    /// The channel is private to this account: not public, or the account was banned
    /// from it (Telegram's `CHANNEL_PRIVATE`).
    ChannelPrivate,
    /// The account is in as many supergroups and channels as Telegram allows (its
    /// `CHANNELS_TOO_MUCH`); leave one first.
    TooManyChannels,
    /// The file is no image Telegram can make a chat or profile photo of (not a photo,
    /// or Telegram's `PHOTO_INVALID` / `IMAGE_PROCESS_FAILED`).
    PhotoInvalid,
    /// The image is smaller than Telegram crops a chat or profile photo from (160×160,
    /// `PHOTO_CROP_SIZE_SMALL`).
    PhotoTooSmall,
}

impl ErrorCode {
    /// The wire form, `snake_case`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::TokenExpired => "token_expired",
            Self::TokenInvalid => "token_invalid",
            Self::SessionExpired => "session_expired",
            Self::InvalidCredentials => "invalid_credentials",
            Self::RefreshTokenInvalid => "refresh_token_invalid",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::Forbidden => "forbidden",
            Self::AccountDisabled => "account_disabled",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::MalformedJson => "malformed_json",
            Self::ValidationFailed => "validation_failed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::EmailTaken => "email_taken",
            Self::PhoneInvalid => "phone_invalid",
            Self::PhoneAlreadyLinked => "phone_already_linked",
            Self::TelegramCodeInvalid => "telegram_code_invalid",
            Self::TelegramPasswordInvalid => "telegram_password_invalid",
            Self::TelegramAccountMissing => "telegram_account_missing",
            Self::LoginNotFound => "login_not_found",
            Self::LoginExpired => "login_expired",
            Self::LoginStepMismatch => "login_step_mismatch",
            Self::TelegramFloodWait => "telegram_flood_wait",
            Self::TelegramUnavailable => "telegram_unavailable",
            Self::RateLimited => "rate_limited",
            Self::TooManyConnections => "too_many_connections",
            Self::MediaTooLarge => "media_too_large",
            Self::RangeNotSatisfiable => "range_not_satisfiable",
            Self::MediaLinkExpired => "media_link_expired",
            Self::MediaLinkInvalid => "media_link_invalid",
            Self::QuotaExceeded => "quota_exceeded",
            Self::InsufficientStorage => "insufficient_storage",
            Self::PreviewPending => "preview_pending",
            Self::FileTypeNotAllowed => "file_type_not_allowed",
            Self::ImageTooLarge => "image_too_large",
            Self::EmptyFile => "empty_file",
            Self::UploadIncomplete => "upload_incomplete",
            Self::MediaKindNotSendable => "media_kind_not_sendable",
            Self::ServiceUnavailable => "service_unavailable",
            Self::Timeout => "timeout",
            Self::RequestTimeout => "request_timeout",
            Self::Internal => "internal",
            Self::TelegramPrivacyRestricted => "telegram_privacy_restricted",
            Self::TelegramAdminRequired => "telegram_admin_required",
            Self::AlreadyParticipant => "already_participant",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::RequestInProgress => "request_in_progress",
            Self::UsernameTaken => "username_taken",
            Self::UsernameInvalid => "username_invalid",
            Self::NotParticipant => "not_participant",
            Self::TelegramAdminInvalid => "telegram_admin_invalid",
            Self::ChatCreator => "chat_creator",
            Self::InviteExpired => "invite_expired",
            Self::InviteInvalid => "invite_invalid",
            Self::ChannelPrivate => "channel_private",
            Self::TooManyChannels => "too_many_channels",
            Self::PhotoInvalid => "photo_invalid",
            Self::PhotoTooSmall => "photo_too_small",
        }
    }

    /// The HTTP status this code is answered with.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::Unauthenticated
            | Self::TokenExpired
            | Self::TokenInvalid
            | Self::SessionExpired
            | Self::InvalidCredentials
            | Self::RefreshTokenInvalid
            | Self::RefreshTokenReused
            | Self::MediaLinkExpired => 401,
            Self::Forbidden
            | Self::MediaLinkInvalid
            | Self::AccountDisabled
            | Self::TelegramPrivacyRestricted
            | Self::TelegramAdminRequired
            | Self::TelegramAdminInvalid
            | Self::ChannelPrivate => 403,
            Self::NotFound | Self::LoginNotFound | Self::NotParticipant | Self::InviteInvalid => {
                404
            }
            Self::MethodNotAllowed => 405,
            Self::EmailTaken
            | Self::PhoneAlreadyLinked
            | Self::LoginStepMismatch
            | Self::AlreadyParticipant
            | Self::RequestInProgress
            | Self::ChatCreator
            | Self::TooManyChannels
            | Self::PreviewPending => 409,
            Self::IdempotencyKeyReused => 422,
            Self::UsernameTaken => 409,
            Self::UsernameInvalid => 422,
            Self::LoginExpired | Self::InviteExpired => 410,
            Self::PayloadTooLarge | Self::MediaTooLarge | Self::QuotaExceeded => 413,
            Self::FileTypeNotAllowed => 415,
            Self::ImageTooLarge | Self::EmptyFile => 422,
            Self::UploadIncomplete => 400,
            Self::MediaKindNotSendable => 422,
            Self::PhotoInvalid | Self::PhotoTooSmall => 422,
            Self::RangeNotSatisfiable => 416,
            Self::UnsupportedMediaType => 415,
            Self::MalformedJson => 400,
            Self::ValidationFailed
            | Self::PhoneInvalid
            | Self::TelegramCodeInvalid
            | Self::TelegramPasswordInvalid
            | Self::TelegramAccountMissing => 422,
            Self::RateLimited | Self::TelegramFloodWait | Self::TooManyConnections => 429,
            Self::Internal => 500,
            Self::InsufficientStorage => 507,
            Self::ServiceUnavailable | Self::TelegramUnavailable => 503,
            Self::Timeout => 504,
            Self::RequestTimeout => 408,
        }
    }

    /// A short human title (problem+json `title`).
    pub const fn title(self) -> &'static str {
        match self {
            Self::Unauthenticated => "Authentication required",
            Self::TokenExpired => "Access token expired",
            Self::TokenInvalid => "Access token not accepted",
            Self::SessionExpired => "Session ended",
            Self::InvalidCredentials => "Wrong email or password",
            Self::RefreshTokenInvalid => "Refresh token not accepted",
            Self::RefreshTokenReused => "Refresh token reused",
            Self::Forbidden => "Forbidden",
            Self::AccountDisabled => "Account disabled",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::MalformedJson => "Malformed JSON",
            Self::ValidationFailed => "Validation failed",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::EmailTaken => "Email already registered",
            Self::PhoneInvalid => "Phone number not accepted",
            Self::PhoneAlreadyLinked => "Phone already linked",
            Self::TelegramCodeInvalid => "Wrong login code",
            Self::TelegramPasswordInvalid => "Wrong 2FA password",
            Self::TelegramAccountMissing => "No Telegram account for this number",
            Self::LoginNotFound => "Login not found",
            Self::LoginExpired => "Login expired",
            Self::LoginStepMismatch => "Not the login's current step",
            Self::TelegramFloodWait => "Telegram asks to wait",
            Self::TelegramUnavailable => "Telegram unavailable",
            Self::RateLimited => "Too many requests",
            Self::TooManyConnections => "Too many connections",
            Self::MediaTooLarge => "File too large to serve",
            Self::RangeNotSatisfiable => "Range not satisfiable",
            Self::MediaLinkExpired => "Media link expired",
            Self::MediaLinkInvalid => "Media link not accepted",
            Self::QuotaExceeded => "Storage quota exceeded",
            Self::InsufficientStorage => "Insufficient storage",
            Self::PreviewPending => "Preview not made yet",
            Self::FileTypeNotAllowed => "File type not allowed",
            Self::ImageTooLarge => "Image too large",
            Self::EmptyFile => "Empty file",
            Self::UploadIncomplete => "Upload incomplete",
            Self::MediaKindNotSendable => "Cannot send the file as this kind",
            Self::ServiceUnavailable => "Service unavailable",
            Self::Timeout => "Upstream timeout",
            Self::RequestTimeout => "Request timeout",
            Self::Internal => "Internal error",
            Self::TelegramPrivacyRestricted => "Not allowed by the user's privacy settings",
            Self::TelegramAdminRequired => "Admin rights needed",
            Self::AlreadyParticipant => "Already a member",
            Self::IdempotencyKeyReused => "Idempotency key used for another request",
            Self::RequestInProgress => "The first request with this key is still running",
            Self::UsernameTaken => "Username taken",
            Self::UsernameInvalid => "Username not accepted",
            Self::NotParticipant => "Not a member of the chat",
            Self::TelegramAdminInvalid => "An admin this account may not change",
            Self::ChatCreator => "Not possible for the chat's creator",
            Self::InviteExpired => "Invite link expired",
            Self::InviteInvalid => "No such invite link",
            Self::ChannelPrivate => "The channel is private",
            Self::TooManyChannels => "In too many channels",
            Self::PhotoInvalid => "Not an image that can be a photo",
            Self::PhotoTooSmall => "Image too small for a photo",
        }
    }

    /// The gRPC status code for the same condition.
    pub const fn grpc_code(self) -> Code {
        match self {
            Self::Unauthenticated
            | Self::TokenExpired
            | Self::TokenInvalid
            | Self::SessionExpired
            | Self::InvalidCredentials
            | Self::RefreshTokenInvalid
            | Self::RefreshTokenReused
            | Self::MediaLinkExpired => Code::Unauthenticated,
            Self::Forbidden
            | Self::MediaLinkInvalid
            | Self::AccountDisabled
            | Self::TelegramPrivacyRestricted
            | Self::TelegramAdminRequired
            | Self::TelegramAdminInvalid
            | Self::ChannelPrivate => Code::PermissionDenied,
            Self::InviteExpired | Self::TooManyChannels | Self::PreviewPending => {
                Code::FailedPrecondition
            }
            Self::InviteInvalid => Code::NotFound,
            Self::AlreadyParticipant => Code::AlreadyExists,
            Self::NotParticipant => Code::NotFound,
            Self::ChatCreator => Code::FailedPrecondition,
            Self::IdempotencyKeyReused => Code::InvalidArgument,
            Self::RequestInProgress => Code::Aborted,
            Self::UsernameTaken => Code::AlreadyExists,
            Self::UsernameInvalid => Code::InvalidArgument,
            Self::NotFound | Self::LoginNotFound => Code::NotFound,
            Self::PhoneInvalid
            | Self::TelegramCodeInvalid
            | Self::TelegramPasswordInvalid
            | Self::TelegramAccountMissing => Code::InvalidArgument,
            Self::PhoneAlreadyLinked => Code::AlreadyExists,
            Self::QuotaExceeded | Self::InsufficientStorage => Code::ResourceExhausted,
            Self::FileTypeNotAllowed
            | Self::ImageTooLarge
            | Self::EmptyFile
            | Self::UploadIncomplete
            | Self::MediaKindNotSendable
            | Self::PhotoInvalid
            | Self::PhotoTooSmall => Code::InvalidArgument,
            Self::LoginExpired | Self::LoginStepMismatch => Code::FailedPrecondition,
            Self::TelegramFloodWait => Code::ResourceExhausted,
            Self::TelegramUnavailable => Code::Unavailable,
            Self::MethodNotAllowed => Code::Unimplemented,
            Self::MalformedJson | Self::ValidationFailed | Self::UnsupportedMediaType => {
                Code::InvalidArgument
            }
            Self::PayloadTooLarge | Self::MediaTooLarge | Self::RangeNotSatisfiable => {
                Code::OutOfRange
            }
            Self::EmailTaken => Code::AlreadyExists,
            Self::RateLimited | Self::TooManyConnections => Code::ResourceExhausted,
            Self::ServiceUnavailable => Code::Unavailable,
            Self::Timeout | Self::RequestTimeout => Code::DeadlineExceeded,
            Self::Internal => Code::Internal,
        }
    }

    /// The code for a status received from a service. The services put the code's wire
    /// form in the `talkapp-error-code` metadata; without it the gRPC code decides.
    pub fn from_grpc_status(status: &tonic::Status) -> Self {
        if let Some(code) = status
            .metadata()
            .get(ERROR_CODE_METADATA_KEY)
            .and_then(|value| value.to_str().ok())
            .and_then(Self::parse)
        {
            return code;
        }
        match status.code() {
            Code::Unauthenticated => Self::Unauthenticated,
            Code::PermissionDenied => Self::Forbidden,
            Code::NotFound => Self::NotFound,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
                Self::ValidationFailed
            }
            Code::AlreadyExists | Code::Aborted => Self::ValidationFailed,
            Code::ResourceExhausted => Self::RateLimited,
            Code::Unavailable | Code::Cancelled => Self::ServiceUnavailable,
            Code::DeadlineExceeded => Self::Timeout,
            // The client's own transport failed (the service went away mid-call: a reset
            // connection, a broken stream). A status a service sent has no source.
            Code::Unknown if std::error::Error::source(status).is_some() => {
                Self::ServiceUnavailable
            }
            Code::Ok | Code::Unknown | Code::Unimplemented | Code::Internal | Code::DataLoss => {
                Self::Internal
            }
        }
    }

    /// Parses the wire form.
    pub fn parse(wire: &str) -> Option<Self> {
        ALL.iter().copied().find(|code| code.as_str() == wire)
    }

    /// A gRPC status carrying this code and the seconds to wait before retrying.
    pub fn to_grpc_status_with_retry(
        self,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> tonic::Status {
        let mut status = self.to_grpc_status(message);
        if let Ok(value) = retry_after_secs.to_string().parse() {
            status
                .metadata_mut()
                .insert(RETRY_AFTER_METADATA_KEY, value);
        }
        status
    }

    /// A gRPC status carrying this code.
    pub fn to_grpc_status(self, message: impl Into<String>) -> tonic::Status {
        let mut status = tonic::Status::new(self.grpc_code(), message);
        status.metadata_mut().insert(
            ERROR_CODE_METADATA_KEY,
            tonic::metadata::MetadataValue::from_static(self.as_str()),
        );
        status
    }
}

/// gRPC metadata key that carries an [`ErrorCode`] from a service to the gateway.
pub const ERROR_CODE_METADATA_KEY: &str = "talkapp-error-code";
/// gRPC metadata key that carries the seconds to wait before retrying.
pub const RETRY_AFTER_METADATA_KEY: &str = "talkapp-retry-after";

/// The seconds a service asked the caller to wait, if any.
pub fn retry_after_secs(status: &tonic::Status) -> Option<u64> {
    status
        .metadata()
        .get(RETRY_AFTER_METADATA_KEY)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

/// Every code, for parsing and for the OpenAPI description.
pub const ALL: &[ErrorCode] = &[
    ErrorCode::Unauthenticated,
    ErrorCode::TokenExpired,
    ErrorCode::TokenInvalid,
    ErrorCode::SessionExpired,
    ErrorCode::InvalidCredentials,
    ErrorCode::RefreshTokenInvalid,
    ErrorCode::RefreshTokenReused,
    ErrorCode::Forbidden,
    ErrorCode::AccountDisabled,
    ErrorCode::NotFound,
    ErrorCode::MethodNotAllowed,
    ErrorCode::MalformedJson,
    ErrorCode::ValidationFailed,
    ErrorCode::PayloadTooLarge,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::EmailTaken,
    ErrorCode::PhoneInvalid,
    ErrorCode::PhoneAlreadyLinked,
    ErrorCode::TelegramCodeInvalid,
    ErrorCode::TelegramPasswordInvalid,
    ErrorCode::TelegramAccountMissing,
    ErrorCode::LoginNotFound,
    ErrorCode::LoginExpired,
    ErrorCode::LoginStepMismatch,
    ErrorCode::TelegramFloodWait,
    ErrorCode::TelegramUnavailable,
    ErrorCode::RateLimited,
    ErrorCode::TooManyConnections,
    ErrorCode::MediaTooLarge,
    ErrorCode::RangeNotSatisfiable,
    ErrorCode::MediaLinkExpired,
    ErrorCode::MediaLinkInvalid,
    ErrorCode::QuotaExceeded,
    ErrorCode::InsufficientStorage,
    ErrorCode::PreviewPending,
    ErrorCode::FileTypeNotAllowed,
    ErrorCode::ImageTooLarge,
    ErrorCode::EmptyFile,
    ErrorCode::UploadIncomplete,
    ErrorCode::MediaKindNotSendable,
    ErrorCode::ServiceUnavailable,
    ErrorCode::Timeout,
    ErrorCode::Internal,
    ErrorCode::RequestTimeout,
    ErrorCode::TelegramPrivacyRestricted,
    ErrorCode::TelegramAdminRequired,
    ErrorCode::AlreadyParticipant,
    ErrorCode::IdempotencyKeyReused,
    ErrorCode::RequestInProgress,
    ErrorCode::UsernameTaken,
    ErrorCode::UsernameInvalid,
    ErrorCode::NotParticipant,
    ErrorCode::TelegramAdminInvalid,
    ErrorCode::ChatCreator,
    ErrorCode::InviteExpired,
    ErrorCode::InviteInvalid,
    ErrorCode::ChannelPrivate,
    ErrorCode::TooManyChannels,
    ErrorCode::PhotoInvalid,
    ErrorCode::PhotoTooSmall,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_form_and_grpc_metadata() {
        for code in ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
            let status = code.to_grpc_status("x");
            assert_eq!(ErrorCode::from_grpc_status(&status), *code);
        }
    }

    #[test]
    fn a_service_lost_mid_call_is_unavailable_and_a_sent_unknown_status_is_internal() {
        // What tonic makes of a connection reset while the call was under way.
        let reset = tonic::Status::from_error(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        )));
        assert_eq!(reset.code(), Code::Unknown);
        assert_eq!(
            ErrorCode::from_grpc_status(&reset),
            ErrorCode::ServiceUnavailable
        );
        let sent = tonic::Status::unknown("the service said so");
        assert_eq!(ErrorCode::from_grpc_status(&sent), ErrorCode::Internal);
    }
}
