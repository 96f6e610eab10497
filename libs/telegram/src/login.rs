//! Linking a Telegram account, one step at a time.
//!
//! Each step opens a connection over the session snapshot the previous step left, makes
//! its calls, and returns the next snapshot: the pending login lives in the database, not
//! in a process, so a restart or another replica can take the next step. The calls are the
//! ones Telegram documents for user login: `auth.sendCode`, `auth.signIn` (answered with
//! `SESSION_PASSWORD_NEEDED` when 2FA is on), `account.getPassword` + `auth.checkPassword`
//! (SRP, computed by grammers).

use std::sync::Arc;

use grammers_client::client::PasswordToken;
use grammers_client::{InvocationError, SignInError};
use grammers_session::Session;
use grammers_session::types::{PeerAuth, PeerInfo, UpdateState, UpdatesState};
use grammers_tl_types as tl;

use crate::endpoint::TelegramEndpoint;
use crate::session::{SessionSnapshot, StoredSession};

/// The Telegram account a login ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramUser {
    /// Telegram user id.
    pub id: i64,
    /// First name.
    pub first_name: String,
    /// Last name (may be empty).
    pub last_name: String,
    /// Username without `@` (may be empty).
    pub username: String,
    /// Phone number, digits only.
    pub phone: String,
}

/// Why a login step failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Telegram does not accept this phone number.
    #[error("the phone number is not valid")]
    PhoneInvalid,
    /// The code is wrong.
    #[error("the code is wrong")]
    InvalidCode,
    /// The code has expired; start again.
    #[error("the code has expired")]
    CodeExpired,
    /// The 2FA password is wrong.
    #[error("the password is wrong")]
    InvalidPassword,
    /// The number has no Telegram account; accounts are created in the official apps.
    #[error("this number has no Telegram account")]
    SignUpRequired,
    /// Telegram asks to wait this many seconds.
    #[error("telegram asks to wait {0} s")]
    FloodWait(u32),
    /// Telegram could not be reached.
    #[error("telegram is not reachable: {0}")]
    Unavailable(String),
    /// Anything else Telegram answered.
    #[error("telegram refused: {0}")]
    Telegram(String),
}

/// How often a password proof is tried with fresh SRP parameters.
const SRP_TRIES: u32 = 3;

impl LoginError {
    fn from_invocation(error: InvocationError) -> Self {
        match &error {
            InvocationError::Rpc(rpc) if rpc.is("FLOOD_WAIT") || rpc.code == 420 => {
                Self::FloodWait(rpc.value.unwrap_or(1))
            }
            InvocationError::Rpc(rpc) if rpc.is("PHONE_NUMBER_*") => Self::PhoneInvalid,
            InvocationError::Rpc(rpc) if rpc.is("PHONE_CODE_EXPIRED") => Self::CodeExpired,
            InvocationError::Rpc(rpc) if rpc.is("PHONE_CODE_*") => Self::InvalidCode,
            InvocationError::Rpc(rpc) if rpc.is("PASSWORD_HASH_INVALID") => Self::InvalidPassword,
            // Telegram's own trouble (500 INTERNAL, -503 Timeout): try again later.
            InvocationError::Rpc(rpc) if rpc.code >= 500 || rpc.code == -503 => {
                Self::Unavailable(rpc.to_string())
            }
            InvocationError::Rpc(rpc) => Self::Telegram(rpc.to_string()),
            // Anything else is the link to Telegram failing, not Telegram refusing.
            _ => Self::Unavailable(error.to_string()),
        }
    }
}

/// A code was sent; the login waits for it.
#[derive(Debug, Clone)]
pub struct CodeSent {
    /// The session the code is bound to (Telegram checks the code against its key).
    pub session: SessionSnapshot,
    /// Telegram's handle for this code.
    pub phone_code_hash: String,
}

/// What a submitted code led to.
#[derive(Debug, Clone)]
pub enum AfterCode {
    /// Signed in.
    SignedIn(LoggedIn),
    /// The account has 2FA: the password is next.
    PasswordNeeded {
        /// The session to continue with.
        session: SessionSnapshot,
        /// The password hint the user set, if any.
        hint: Option<String>,
    },
}

/// A finished login: the account and the session to keep.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// Who signed in.
    pub user: TelegramUser,
    /// The authorised session (auth key and state): seal it before storing.
    pub session: SessionSnapshot,
}

/// Runs the login steps against an endpoint.
#[derive(Clone)]
pub struct Login {
    endpoint: TelegramEndpoint,
}

impl Login {
    /// Logins against `endpoint`.
    pub fn new(endpoint: TelegramEndpoint) -> Self {
        Self { endpoint }
    }

    /// Asks Telegram to send a login code to `phone` (digits, international form).
    #[tracing::instrument(skip_all)]
    pub async fn send_code(&self, phone: &str) -> Result<CodeSent, LoginError> {
        let session = self
            .endpoint
            .new_session()
            .await
            .map_err(|error| LoginError::Unavailable(error.to_string()))?;
        let connection = self.endpoint.connect(Arc::new(session));
        let sent = connection
            .client
            .invoke(&tl::functions::auth::SendCode {
                phone_number: phone.to_owned(),
                api_id: self.endpoint.api_id,
                api_hash: self.endpoint.api_hash.clone(),
                settings: tl::types::CodeSettings {
                    allow_flashcall: false,
                    current_number: false,
                    allow_app_hash: false,
                    allow_missed_call: false,
                    allow_firebase: false,
                    unknown_number: false,
                    logout_tokens: None,
                    token: None,
                    app_sandbox: None,
                }
                .into(),
            })
            .await;
        let snapshot = connection.session.snapshot();
        connection.close().await;
        let phone_code_hash = match sent.map_err(LoginError::from_invocation)? {
            tl::enums::auth::SentCode::Code(code) => code.phone_code_hash,
            other => {
                return Err(LoginError::Telegram(format!(
                    "unexpected answer to auth.sendCode: {other:?}"
                )));
            }
        };
        Ok(CodeSent {
            session: snapshot.map_err(|error| LoginError::Telegram(error.to_string()))?,
            phone_code_hash,
        })
    }

    /// Checks the code the user received.
    #[tracing::instrument(skip_all)]
    pub async fn submit_code(
        &self,
        session: SessionSnapshot,
        phone: &str,
        phone_code_hash: &str,
        code: &str,
    ) -> Result<AfterCode, LoginError> {
        let connection = self.endpoint.connect(Arc::new(StoredSession::from_snapshot(
            self.endpoint.adapt(session),
        )));
        let result = connection
            .client
            .invoke(&tl::functions::auth::SignIn {
                phone_number: phone.to_owned(),
                phone_code_hash: phone_code_hash.to_owned(),
                phone_code: Some(code.to_owned()),
                email_verification: None,
            })
            .await;
        let outcome = match result {
            Ok(tl::enums::auth::Authorization::Authorization(authorization)) => {
                complete_login(&connection, authorization.user)
                    .await
                    .map(|user| (Some(user), None))
            }
            Ok(tl::enums::auth::Authorization::SignUpRequired(_)) => {
                Err(LoginError::SignUpRequired)
            }
            Err(error) if error.is("SESSION_PASSWORD_NEEDED") => connection
                .client
                .invoke(&tl::functions::account::GetPassword {})
                .await
                .map_err(LoginError::from_invocation)
                .map(|password| {
                    let tl::enums::account::Password::Password(password) = password;
                    (None, password.hint)
                }),
            Err(error) => Err(LoginError::from_invocation(error)),
        };
        let snapshot = connection.session.snapshot();
        connection.close().await;
        let (user, hint) = outcome?;
        let session = snapshot.map_err(|error| LoginError::Telegram(error.to_string()))?;
        Ok(match user {
            Some(user) => AfterCode::SignedIn(LoggedIn { user, session }),
            None => AfterCode::PasswordNeeded { session, hint },
        })
    }

    /// Checks the 2FA password (SRP: the password itself never leaves this process).
    #[tracing::instrument(skip_all)]
    pub async fn submit_password(
        &self,
        session: SessionSnapshot,
        password: &str,
    ) -> Result<LoggedIn, LoginError> {
        let connection = self.endpoint.connect(Arc::new(StoredSession::from_snapshot(
            self.endpoint.adapt(session),
        )));
        let outcome = async {
            // The SRP parameters are replaced whenever they are asked for again (another
            // try of the same login running at once, a retried request): Telegram then
            // answers SRP_ID_INVALID, and the client asks for fresh ones and proves again.
            let mut tries = 0;
            loop {
                tries += 1;
                let tl::enums::account::Password::Password(parameters) = connection
                    .client
                    .invoke(&tl::functions::account::GetPassword {})
                    .await
                    .map_err(LoginError::from_invocation)?;
                if parameters.current_algo.is_none()
                    || parameters.srp_b.is_none()
                    || parameters.srp_id.is_none()
                {
                    return Err(LoginError::Telegram(
                        "the account has no 2FA password".into(),
                    ));
                }
                let checked = connection
                    .client
                    .check_password(PasswordToken::new(parameters), password.as_bytes())
                    .await;
                match checked {
                    Ok(user) => return Ok(user_from_raw(&user.raw)),
                    Err(SignInError::InvalidPassword(_)) => {
                        return Err(LoginError::InvalidPassword);
                    }
                    Err(SignInError::Other(InvocationError::Rpc(rpc)))
                        if rpc.is("SRP_ID_INVALID") && tries < SRP_TRIES => {}
                    Err(SignInError::Other(InvocationError::Rpc(rpc))) if rpc.code == 401 => {
                        // The key is no longer waiting for a password: another try of
                        // this login finished it.
                        return Err(LoginError::CodeExpired);
                    }
                    Err(SignInError::Other(error)) => {
                        return Err(LoginError::from_invocation(error));
                    }
                    Err(other) => return Err(LoginError::Telegram(other.to_string())),
                }
            }
        }
        .await;
        let snapshot = connection.session.snapshot();
        connection.close().await;
        let user =
            outcome?.ok_or_else(|| LoginError::Telegram("empty user after sign-in".into()))?;
        Ok(LoggedIn {
            user,
            session: snapshot.map_err(|error| LoginError::Telegram(error.to_string()))?,
        })
    }
}

impl Login {
    /// Ends the authorisation of `session` at Telegram (`auth.logOut`). A key Telegram
    /// no longer knows counts as logged out already.
    #[tracing::instrument(skip_all)]
    pub async fn log_out(&self, session: SessionSnapshot) -> Result<(), LoginError> {
        let connection = self.endpoint.connect(Arc::new(StoredSession::from_snapshot(
            self.endpoint.adapt(session),
        )));
        let result = connection
            .client
            .invoke(&tl::functions::auth::LogOut {})
            .await;
        connection.close().await;
        match result {
            Ok(_) => Ok(()),
            Err(InvocationError::Rpc(rpc)) if rpc.code == 401 => Ok(()),
            Err(error) => Err(LoginError::from_invocation(error)),
        }
    }
}

fn user_from_raw(user: &tl::enums::User) -> Option<TelegramUser> {
    match user {
        tl::enums::User::User(user) => Some(TelegramUser {
            id: user.id,
            first_name: user.first_name.clone().unwrap_or_default(),
            last_name: user.last_name.clone().unwrap_or_default(),
            username: user.username.clone().unwrap_or_default(),
            phone: user.phone.clone().unwrap_or_default(),
        }),
        tl::enums::User::Empty(_) => None,
    }
}

/// What grammers does after a sign-in: remember who "self" is (with the access hash), and
/// start the update state where Telegram says it stands, so no update is replayed or lost.
async fn complete_login(
    connection: &crate::endpoint::Connection,
    raw_user: tl::enums::User,
) -> Result<TelegramUser, LoginError> {
    let tl::enums::User::User(user) = &raw_user else {
        return Err(LoginError::Telegram("empty user after sign-in".into()));
    };
    let session = &connection.session;
    session
        .cache_peer(PeerInfo::User {
            id: user.id,
            auth: user.access_hash.map(PeerAuth::from_hash),
            bot: Some(user.bot),
            is_self: Some(true),
        })
        .await
        .map_err(|error| LoginError::Telegram(error.to_string()))?;
    if let Ok(tl::enums::updates::State::State(state)) = connection
        .client
        .invoke(&tl::functions::updates::GetState {})
        .await
    {
        session
            .set_update_state(UpdateState::All(UpdatesState {
                pts: state.pts,
                qts: state.qts,
                date: state.date,
                seq: state.seq,
                channels: Vec::new(),
            }))
            .await
            .map_err(|error| LoginError::Telegram(error.to_string()))?;
    }
    user_from_raw(&raw_user).ok_or_else(|| LoginError::Telegram("empty user after sign-in".into()))
}
