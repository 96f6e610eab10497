//! Linking Telegram accounts: the login steps, with their state in the store.
//!
//! A pending login keeps its grammers session (sealed) and Telegram's `phone_code_hash` in
//! the store, so any chat-service process can take the next step and a restart loses
//! nothing. Each code or password try counts; past `telegram.max_login_attempts` the login
//! is dropped and must start again, and after `telegram.login_ttl_secs` it expires.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use talkapp_common::ErrorCode;
use talkapp_store::{
    ChatStore, LinkStatus, LinkedAccount, LoginState, StoreError, TelegramAccount, TelegramLogin,
};
use talkapp_telegram::login::{AfterCode, LoggedIn, Login, LoginError};
use talkapp_telegram::sealing::Sealer;
use talkapp_telegram::session::SessionSnapshot;
use uuid::Uuid;

/// Why a linking step failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A field is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The user has linked this phone already.
    #[error("this phone is linked already")]
    PhoneAlreadyLinked,
    /// No such login for this user.
    #[error("no such login")]
    LoginNotFound,
    /// The login expired or used up its attempts.
    #[error("the login has expired; start again")]
    LoginExpired,
    /// The login is at another step.
    #[error("the login is not waiting for this step")]
    WrongStep,
    /// No such linked account.
    #[error("no such session")]
    AccountNotFound,
    /// Telegram said no.
    #[error(transparent)]
    Telegram(#[from] LoginError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed session did not open (wrong key or corrupted).
    #[error("stored telegram session cannot be opened: {0}")]
    Sealed(String),
}

impl LinkError {
    /// The stable code and, for waits, the seconds to wait.
    pub fn code(&self) -> (ErrorCode, Option<u64>) {
        match self {
            Self::Invalid(_) => (ErrorCode::ValidationFailed, None),
            Self::PhoneAlreadyLinked => (ErrorCode::PhoneAlreadyLinked, None),
            Self::LoginNotFound => (ErrorCode::LoginNotFound, None),
            Self::LoginExpired => (ErrorCode::LoginExpired, None),
            Self::WrongStep => (ErrorCode::LoginStepMismatch, None),
            Self::AccountNotFound => (ErrorCode::NotFound, None),
            Self::Telegram(error) => match error {
                LoginError::PhoneInvalid => (ErrorCode::PhoneInvalid, None),
                LoginError::InvalidCode => (ErrorCode::TelegramCodeInvalid, None),
                LoginError::CodeExpired => (ErrorCode::LoginExpired, None),
                LoginError::InvalidPassword => (ErrorCode::TelegramPasswordInvalid, None),
                LoginError::SignUpRequired => (ErrorCode::TelegramAccountMissing, None),
                LoginError::FloodWait(seconds) => {
                    (ErrorCode::TelegramFloodWait, Some(u64::from(*seconds)))
                }
                LoginError::Unavailable(_) => (ErrorCode::TelegramUnavailable, Some(5)),
                LoginError::Telegram(_) => (ErrorCode::Internal, None),
            },
            Self::Store(StoreError::Unavailable(_)) => (ErrorCode::ServiceUnavailable, Some(2)),
            Self::Store(StoreError::Conflict("telegram_sessions.phone")) => {
                (ErrorCode::PhoneAlreadyLinked, None)
            }
            Self::Store(StoreError::Conflict(_) | StoreError::Internal(_)) | Self::Sealed(_) => {
                (ErrorCode::Internal, None)
            }
        }
    }
}

/// A login waiting for its code.
#[derive(Debug, Clone)]
pub struct StartedLogin {
    /// The login's id.
    pub login_id: Uuid,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// What a step led to.
#[derive(Debug, Clone)]
pub enum LinkStep {
    /// The 2FA password is next.
    PasswordNeeded {
        /// The account's hint.
        hint: String,
    },
    /// Linked.
    Linked(LinkedAccount),
}

/// The linking operations.
#[derive(Clone)]
pub struct Linking {
    store: Arc<dyn ChatStore>,
    login: Login,
    sealer: Sealer,
    login_ttl: chrono::TimeDelta,
    max_attempts: u32,
    /// One step of a login at a time in this process (striped by login id): a step sent
    /// twice at once (a retried request, a double click) would otherwise race its twin
    /// at Telegram (each password try replaces the SRP parameters the other uses).
    steps: Arc<Vec<tokio::sync::Mutex<()>>>,
}

/// Locks serialising the steps of one login.
const STEP_STRIPES: usize = 64;

fn step_stripe(login_id: Uuid) -> usize {
    usize::try_from(login_id.as_u128() % STEP_STRIPES as u128).unwrap_or(0)
}

/// The associated data a pending login's session is sealed under.
fn login_seal_context(login_id: Uuid) -> Vec<u8> {
    format!("talkapp/telegram-login/{login_id}").into_bytes()
}

/// The associated data a linked session is sealed under: it opens for its user only.
pub fn session_seal_context(user_id: Uuid) -> Vec<u8> {
    format!("talkapp/telegram-session/{user_id}").into_bytes()
}

/// Digits only, 7 to 15 of them (E.164), from what people type (`+998 90-123 45 67`).
pub fn normalize_phone(phone: &str) -> Result<String, LinkError> {
    let digits: String = phone
        .chars()
        .filter(|character| !matches!(character, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let digits = digits.strip_prefix('+').unwrap_or(&digits);
    if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(LinkError::Invalid(
            "phone must be an international number of 7 to 15 digits".into(),
        ));
    }
    Ok(digits.to_owned())
}

impl Linking {
    /// Linking over `store`, logging in through `login`, sealing with `sealer`.
    pub fn new(
        store: Arc<dyn ChatStore>,
        login: Login,
        sealer: Sealer,
        login_ttl_secs: u64,
        max_attempts: u32,
    ) -> Self {
        Self {
            store,
            login,
            sealer,
            login_ttl: chrono::TimeDelta::seconds(i64::try_from(login_ttl_secs).unwrap_or(600)),
            max_attempts,
            steps: Arc::new(
                (0..STEP_STRIPES)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
            ),
        }
    }

    fn seal(&self, snapshot: &SessionSnapshot, context: &[u8]) -> Result<Vec<u8>, LinkError> {
        let bytes = snapshot
            .to_bytes()
            .map_err(|error| LinkError::Sealed(error.to_string()))?;
        self.sealer
            .seal(&bytes, context)
            .map_err(|error| LinkError::Sealed(error.to_string()))
    }

    fn open(&self, sealed: &[u8], context: &[u8]) -> Result<SessionSnapshot, LinkError> {
        let bytes = self
            .sealer
            .open(sealed, context)
            .map_err(|error| LinkError::Sealed(error.to_string()))?;
        SessionSnapshot::from_bytes(&bytes).map_err(|error| LinkError::Sealed(error.to_string()))
    }

    /// Sends a login code to `phone` for `user_id`.
    #[tracing::instrument(skip_all, fields(%user_id))]
    pub async fn start(&self, user_id: Uuid, phone: &str) -> Result<StartedLogin, LinkError> {
        let phone = normalize_phone(phone)?;
        let already_linked = self
            .store
            .linked_accounts_of(user_id)
            .await?
            .iter()
            .any(|linked| linked.account.phone == phone);
        if already_linked {
            return Err(LinkError::PhoneAlreadyLinked);
        }
        let code_sent = self.login.send_code(&phone).await?;
        let login_id = Uuid::new_v4();
        let now = talkapp_store::now();
        let login = TelegramLogin {
            login_id,
            user_id,
            phone,
            phone_code_hash: code_sent.phone_code_hash,
            sealed_session: self.seal(&code_sent.session, &login_seal_context(login_id))?,
            state: LoginState::CodeSent,
            attempts: 0,
            created_at: now,
            expires_at: now + self.login_ttl,
        };
        self.store.create_telegram_login(&login).await?;
        tracing::info!(%login_id, "login code sent");
        Ok(StartedLogin {
            login_id,
            expires_at: login.expires_at,
        })
    }

    /// The id of the user's newest pending login of `phone`.
    pub async fn login_by_phone(&self, user_id: Uuid, phone: &str) -> Result<Uuid, LinkError> {
        let phone = normalize_phone(phone)?;
        self.store
            .latest_telegram_login_by_phone(user_id, &phone)
            .await?
            .map(|login| login.login_id)
            .ok_or(LinkError::LoginNotFound)
    }

    /// The user's live login at `expected` step, counting this try.
    async fn pending(
        &self,
        user_id: Uuid,
        login_id: Uuid,
        expected: LoginState,
    ) -> Result<(TelegramLogin, SessionSnapshot), LinkError> {
        let login = self
            .store
            .telegram_login(login_id)
            .await?
            .filter(|login| login.user_id == user_id)
            .ok_or(LinkError::LoginNotFound)?;
        if talkapp_store::now() >= login.expires_at {
            self.store.delete_telegram_login(login_id).await?;
            return Err(LinkError::LoginExpired);
        }
        if login.state != expected {
            return Err(LinkError::WrongStep);
        }
        let attempts = self
            .store
            .record_login_attempt(login_id)
            .await?
            .ok_or(LinkError::LoginNotFound)?;
        if attempts > self.max_attempts {
            self.store.delete_telegram_login(login_id).await?;
            return Err(LinkError::LoginExpired);
        }
        let snapshot = self.open(&login.sealed_session, &login_seal_context(login_id))?;
        Ok((login, snapshot))
    }

    /// Checks the code of login `login_id`.
    #[tracing::instrument(skip_all, fields(%user_id, %login_id))]
    pub async fn submit_code(
        &self,
        user_id: Uuid,
        login_id: Uuid,
        code: &str,
    ) -> Result<LinkStep, LinkError> {
        let code = code.trim();
        if code.is_empty() || code.len() > 16 || !code.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(LinkError::Invalid(
                "code must be the digits Telegram sent".into(),
            ));
        }
        let _one_step = self.steps[step_stripe(login_id)].lock().await;
        let (login, snapshot) = self
            .pending(user_id, login_id, LoginState::CodeSent)
            .await?;
        let outcome = self
            .login
            .submit_code(snapshot, &login.phone, &login.phone_code_hash, code)
            .await;
        match outcome {
            Ok(AfterCode::SignedIn(logged_in)) => self.finish(&login, logged_in).await,
            Ok(AfterCode::PasswordNeeded { session, hint }) => {
                let sealed = self.seal(&session, &login_seal_context(login_id))?;
                self.store
                    .advance_telegram_login(login_id, LoginState::PasswordNeeded, &sealed)
                    .await?;
                Ok(LinkStep::PasswordNeeded {
                    hint: hint.unwrap_or_default(),
                })
            }
            Err(LoginError::CodeExpired) => {
                self.store.delete_telegram_login(login_id).await?;
                Err(LinkError::LoginExpired)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Checks the 2FA password of login `login_id`.
    #[tracing::instrument(skip_all, fields(%user_id, %login_id))]
    pub async fn submit_password(
        &self,
        user_id: Uuid,
        login_id: Uuid,
        password: &str,
    ) -> Result<LinkStep, LinkError> {
        if password.is_empty() || password.len() > 1024 {
            return Err(LinkError::Invalid(
                "password must have 1 to 1024 bytes".into(),
            ));
        }
        let _one_step = self.steps[step_stripe(login_id)].lock().await;
        let started = std::time::Instant::now();
        let (login, snapshot) = self
            .pending(user_id, login_id, LoginState::PasswordNeeded)
            .await?;
        let read = started.elapsed();
        let outcome = self.login.submit_password(snapshot, password).await;
        let signed_in = started.elapsed();
        let logged_in = match outcome {
            Ok(logged_in) => logged_in,
            // Another try of this login (a retried request) finished it meanwhile.
            Err(LoginError::CodeExpired) => {
                return Err(match self.store.telegram_login(login_id).await? {
                    Some(_) => LinkError::LoginExpired,
                    None => LinkError::LoginNotFound,
                });
            }
            Err(error) => return Err(error.into()),
        };
        let linked = self.finish(&login, logged_in).await;
        tracing::debug!(
            pending_login_ms = read.as_secs_f64() * 1e3,
            telegram_ms = (signed_in - read).as_secs_f64() * 1e3,
            link_ms = (started.elapsed() - signed_in).as_secs_f64() * 1e3,
            "password step"
        );
        linked
    }

    async fn finish(
        &self,
        login: &TelegramLogin,
        logged_in: LoggedIn,
    ) -> Result<LinkStep, LinkError> {
        let sealed = self.seal(&logged_in.session, &session_seal_context(login.user_id))?;
        let account = TelegramAccount {
            telegram_user_id: logged_in.user.id,
            first_name: logged_in.user.first_name,
            last_name: logged_in.user.last_name,
            username: logged_in.user.username,
            phone: if logged_in.user.phone.is_empty() {
                login.phone.clone()
            } else {
                logged_in.user.phone
            },
        };
        let linked = self
            .store
            .link_telegram_account(
                login.user_id,
                &account,
                LinkStatus::Connecting,
                &sealed,
                talkapp_store::now(),
            )
            .await?;
        self.store.delete_telegram_login(login.login_id).await?;
        tracing::info!(
            session_index = linked.session_index,
            "telegram account linked"
        );
        Ok(LinkStep::Linked(linked))
    }

    /// The sealed session of a linked account, opened.
    pub async fn open_session(
        &self,
        user_id: Uuid,
        session_index: u32,
    ) -> Result<Option<SessionSnapshot>, LinkError> {
        let Some(stored) = self.store.hosted_account(user_id, session_index).await? else {
            return Err(LinkError::AccountNotFound);
        };
        stored
            .sealed_session
            .map(|sealed| self.open(&sealed, &session_seal_context(user_id)))
            .transpose()
    }
}

impl Linking {
    /// Logs the account out at Telegram and erases its keys. When Telegram cannot be
    /// reached the keys are kept and the call fails, so it can be tried again: erasing
    /// them would leave an authorisation at Telegram that nobody can end.
    #[tracing::instrument(skip_all, fields(%user_id, session_index))]
    pub async fn unlink(&self, user_id: Uuid, session_index: u32) -> Result<(), LinkError> {
        if let Some(snapshot) = self.open_session(user_id, session_index).await? {
            self.login.log_out(snapshot).await?;
        }
        if !self
            .store
            .unlink_telegram_account(user_id, session_index)
            .await?
        {
            return Err(LinkError::AccountNotFound);
        }
        tracing::info!("telegram account unlinked");
        Ok(())
    }
}
