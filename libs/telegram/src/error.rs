//! Why a call to Telegram failed, in the terms TalkApp acts on.

use grammers_client::InvocationError;

use crate::model::ChatId;

/// Why a Telegram call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelegramError {
    /// Telegram asks to wait this many seconds before the next such call.
    #[error("telegram asks to wait {seconds} s")]
    FloodWait {
        /// How long.
        seconds: u32,
    },
    /// The authorisation is gone (logged out elsewhere, revoked, account deleted): the
    /// account must be linked again.
    #[error("the telegram authorisation has ended ({0})")]
    LoggedOut(String),
    /// The chat is not known to this account (never seen in its dialogs or updates).
    #[error("chat {0} is not known to this account")]
    UnknownChat(ChatId),
    /// Telegram refused the call for a reason of its own (`CHAT_WRITE_FORBIDDEN`,
    /// `MESSAGE_TOO_LONG`, ...): retrying the same call will not help.
    #[error("telegram refused: {code} {name}")]
    Refused {
        /// The RPC error code (400, 403, ...).
        code: i32,
        /// Telegram's error name.
        name: String,
    },
    /// Telegram could not be reached or the connection dropped: the outcome of the call
    /// is unknown, retrying (idempotently) may succeed.
    #[error("telegram is not reachable: {0}")]
    Unavailable(String),
    /// The account is not connected from this process.
    #[error("the account is not connected here")]
    NotConnected,
    /// Anything else (a bug, a malformed answer).
    #[error("telegram call failed: {0}")]
    Internal(String),
}

impl TelegramError {
    /// Whether the same call may succeed later without any change.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::FloodWait { .. } | Self::Unavailable(_) | Self::NotConnected => true,
            Self::LoggedOut(_)
            | Self::UnknownChat(_)
            | Self::Refused { .. }
            | Self::Internal(_) => false,
        }
    }
}

/// Error names that mean the key no longer signs in as the account.
const LOGGED_OUT_ERRORS: [&str; 5] = [
    "AUTH_KEY_UNREGISTERED",
    "SESSION_REVOKED",
    "SESSION_EXPIRED",
    "USER_DEACTIVATED",
    "USER_DEACTIVATED_BAN",
];

impl From<InvocationError> for TelegramError {
    fn from(error: InvocationError) -> Self {
        match error {
            InvocationError::Rpc(rpc) => {
                if rpc.code == 420 || rpc.name == "FLOOD_WAIT" || rpc.name == "FLOOD_PREMIUM_WAIT" {
                    return Self::FloodWait {
                        seconds: rpc.value.unwrap_or(1).max(1),
                    };
                }
                if rpc.code == 401 || LOGGED_OUT_ERRORS.contains(&rpc.name.as_str()) {
                    return Self::LoggedOut(rpc.name);
                }
                if rpc.code >= 500 || rpc.code == -503 {
                    return Self::Unavailable(format!("{} {}", rpc.code, rpc.name));
                }
                Self::Refused {
                    code: rpc.code,
                    name: rpc.name,
                }
            }
            InvocationError::Io(error) => Self::Unavailable(error.to_string()),
            InvocationError::Transport(error) => Self::Unavailable(error.to_string()),
            InvocationError::Dropped(reason) => Self::Unavailable(reason.to_owned()),
            other => Self::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use grammers_client::sender::RpcError;
    use grammers_client::tl;

    use super::*;

    fn rpc(code: i32, message: &str) -> InvocationError {
        InvocationError::Rpc(RpcError::from(tl::types::RpcError {
            error_code: code,
            error_message: message.into(),
        }))
    }

    #[test]
    fn telegram_errors_map_to_what_talkapp_acts_on() {
        assert_eq!(
            TelegramError::from(rpc(420, "FLOOD_WAIT_31")),
            TelegramError::FloodWait { seconds: 31 }
        );
        assert!(matches!(
            TelegramError::from(rpc(401, "AUTH_KEY_UNREGISTERED")),
            TelegramError::LoggedOut(_)
        ));
        assert_eq!(
            TelegramError::from(rpc(403, "CHAT_WRITE_FORBIDDEN")),
            TelegramError::Refused {
                code: 403,
                name: "CHAT_WRITE_FORBIDDEN".into()
            }
        );
        assert!(TelegramError::from(rpc(500, "RPC_CALL_FAIL")).is_transient());
        assert!(!TelegramError::from(rpc(400, "MESSAGE_EMPTY")).is_transient());
    }
}
