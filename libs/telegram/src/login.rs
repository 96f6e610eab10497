//! Linking a Telegram account, one step at a time.
//!
//! Each step opens a connection over the session snapshot the previous step left, makes
//! its calls, and returns the next snapshot: the pending login lives in the database, not
//! in a process, so a restart or another replica can take the next step. The calls are the
//! ones Telegram documents for user login: `auth.sendCode`, `auth.signIn` (answered with
//! `SESSION_PASSWORD_NEEDED` when 2FA is on), `account.getPassword` + `auth.checkPassword`
//! (SRP: the proof computed by grammers-crypto on a blocking thread, see [`password_proof`]).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use grammers_client::InvocationError;
use grammers_crypto::two_factor_auth::{calculate_2fa, check_p_and_g};
use grammers_session::Session;
use grammers_session::types::{PeerAuth, PeerInfo, UpdateState, UpdatesState};
use grammers_tl_types as tl;
use rand::RngCore as _;

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
    ///
    /// grammers' `Client::check_password` is not used: it computes the proof on the
    /// calling task (about 80 ms of CPU: PBKDF2-SHA512 with 100,000 rounds and three
    /// 2048-bit exponentiations) and, before it, checks that Telegram's prime is a safe
    /// prime (32 Miller-Rabin rounds of 2048 bits, about 200 ms) on every call.
    /// Here the same grammers-crypto functions run on a blocking thread, so no async
    /// worker stalls, and a prime is checked once per process ([`group_checked`]).
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
                let started = Instant::now();
                let tl::enums::account::Password::Password(parameters) = connection
                    .client
                    .invoke(&tl::functions::account::GetPassword {})
                    .await
                    .map_err(LoginError::from_invocation)?;
                let asked = started.elapsed();
                let proof = password_proof(parameters, password).await?;
                let proved = started.elapsed();
                let checked = connection
                    .client
                    .invoke(&tl::functions::auth::CheckPassword {
                        password: proof.into(),
                    })
                    .await;
                let answered = started.elapsed();
                tracing::debug!(
                    try_number = tries,
                    get_password_ms = asked.as_secs_f64() * 1e3,
                    proof_ms = (proved - asked).as_secs_f64() * 1e3,
                    check_password_ms = (answered - proved).as_secs_f64() * 1e3,
                    "2FA password step"
                );
                match checked {
                    Ok(tl::enums::auth::Authorization::Authorization(authorization)) => {
                        let user = complete_login(&connection, authorization.user).await;
                        tracing::debug!(
                            complete_login_ms = (started.elapsed() - answered).as_secs_f64() * 1e3,
                            "2FA sign-in completed"
                        );
                        return user;
                    }
                    Ok(tl::enums::auth::Authorization::SignUpRequired(_)) => {
                        return Err(LoginError::Telegram(
                            "sign-up asked for after the password".into(),
                        ));
                    }
                    Err(InvocationError::Rpc(rpc))
                        if rpc.is("SRP_ID_INVALID") && tries < SRP_TRIES => {}
                    Err(InvocationError::Rpc(rpc)) if rpc.code == 401 => {
                        // The key is no longer waiting for a password: another try of
                        // this login finished it.
                        return Err(LoginError::CodeExpired);
                    }
                    // PASSWORD_HASH_INVALID is `InvalidPassword`.
                    Err(error) => return Err(LoginError::from_invocation(error)),
                }
            }
        }
        .await;
        let snapshot = connection.session.snapshot();
        connection.close().await;
        let user = outcome?;
        Ok(LoggedIn {
            user,
            session: snapshot.map_err(|error| LoginError::Telegram(error.to_string()))?,
        })
    }
}

/// The SRP groups (`p`, `g`) that passed grammers' check in this process: `p` a 2048-bit
/// safe prime and `g` a generator of the subgroup the protocol needs. Telegram hands out
/// one group (its published prime, `g` = 3), so the check, which costs two to three times
/// the proof, is made at the first 2FA login of a process only. A few groups at most are kept.
static CHECKED_GROUPS: Mutex<Vec<(Vec<u8>, i32)>> = Mutex::new(Vec::new());

/// How many groups [`CHECKED_GROUPS`] keeps.
const MAX_CHECKED_GROUPS: usize = 4;

/// Whether (`p`, `g`) is a group Telegram may use for SRP: checked once, then remembered.
/// CPU-bound on the first call for a group; call it on a blocking thread.
fn group_checked(p: &[u8], g: i32) -> bool {
    let known = |groups: &Vec<(Vec<u8>, i32)>| {
        groups
            .iter()
            .any(|(prime, generator)| prime == p && *generator == g)
    };
    if CHECKED_GROUPS.lock().is_ok_and(|groups| known(&groups)) {
        return true;
    }
    // grammers-crypto's check panics on a generator it does not know (2 to 7 are the ones
    // Telegram's SRP allows).
    if !(2..=7).contains(&g) || !check_p_and_g(p, &g) {
        return false;
    }
    if let Ok(mut groups) = CHECKED_GROUPS.lock()
        && !known(&groups)
    {
        if groups.len() >= MAX_CHECKED_GROUPS {
            groups.remove(0);
        }
        groups.push((p.to_vec(), g));
    }
    true
}

/// The proof of `password` for the SRP round `parameters` describes (`A` and `M1`, see
/// <https://core.telegram.org/api/srp>), computed by grammers-crypto on a blocking thread:
/// it takes about 80 ms of CPU (PBKDF2-HMAC-SHA512 with 100,000 rounds, then three
/// 2048-bit exponentiations), which on an async worker would hold up every other task
/// queued on it. The secret exponent `a` is drawn here.
async fn password_proof(
    parameters: tl::types::account::Password,
    password: &str,
) -> Result<tl::types::InputCheckPasswordSrp, LoginError> {
    let (Some(algorithm), Some(g_b), Some(srp_id)) =
        (parameters.current_algo, parameters.srp_b, parameters.srp_id)
    else {
        return Err(LoginError::Telegram(
            "the account has no 2FA password".into(),
        ));
    };
    let tl::enums::PasswordKdfAlgo::Sha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow(algorithm) =
        algorithm
    else {
        return Err(LoginError::Telegram(
            "telegram asks for a 2FA password algorithm this client does not know".into(),
        ));
    };
    // `B` must be a number below `p` (grammers-crypto pads it to 256 bytes, and panics on
    // a longer one).
    if g_b.len() > 256
        || algorithm.p.len() != 256
        || pad_256(&g_b) >= pad_256(&algorithm.p)
        || g_b.iter().all(|byte| *byte == 0)
    {
        return Err(LoginError::Telegram(
            "telegram sent SRP parameters out of range".into(),
        ));
    }
    let mut a = vec![0u8; 256];
    rand::rng().fill_bytes(&mut a);
    let password = password.as_bytes().to_vec();
    let proof = tokio::task::spawn_blocking(move || {
        if !group_checked(&algorithm.p, algorithm.g) {
            return None;
        }
        Some(calculate_2fa(
            &algorithm.salt1,
            &algorithm.salt2,
            &algorithm.p,
            &algorithm.g,
            g_b,
            a,
            password,
        ))
    })
    .await
    .map_err(|error| LoginError::Telegram(format!("computing the SRP proof failed: {error}")))?;
    let Some((m1, g_a)) = proof else {
        return Err(LoginError::Telegram(
            "telegram sent an SRP prime or generator that fails the check".into(),
        ));
    };
    Ok(tl::types::InputCheckPasswordSrp {
        srp_id,
        a: g_a.to_vec(),
        m1: m1.to_vec(),
    })
}

/// `bytes` (at most 256) as a 256-byte big-endian number, for comparing.
fn pad_256(bytes: &[u8]) -> [u8; 256] {
    let mut out = [0u8; 256];
    let len = bytes.len().min(256);
    out[256 - len..].copy_from_slice(&bytes[bytes.len() - len..]);
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An `account.getPassword` answer for Telegram's SRP algorithm with these values.
    fn parameters(g_b: Vec<u8>, p: Vec<u8>, g: i32) -> tl::types::account::Password {
        tl::types::account::Password {
            has_recovery: false,
            has_secure_values: false,
            has_password: true,
            current_algo: Some(
                tl::enums::PasswordKdfAlgo::Sha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow(
                    tl::types::PasswordKdfAlgoSha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow {
                        salt1: vec![1; 8],
                        salt2: vec![2; 16],
                        g,
                        p,
                    },
                ),
            ),
            srp_b: Some(g_b),
            srp_id: Some(7),
            hint: None,
            email_unconfirmed_pattern: None,
            new_algo: tl::enums::PasswordKdfAlgo::Unknown,
            new_secure_algo: tl::enums::SecurePasswordKdfAlgo::Unknown,
            secure_random: vec![0; 256],
            pending_reset_date: None,
            login_email_pattern: None,
        }
    }

    async fn refused(parameters: tl::types::account::Password) -> String {
        match password_proof(parameters, "secret").await {
            Err(LoginError::Telegram(reason)) => reason,
            other => panic!("refused as a Telegram error expected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn srp_parameters_out_of_range_or_unknown_are_refused_without_a_panic() {
        let p = talkapp_tg_sandbox::srp_prime().to_vec();
        // `B` not below `p`, `B` zero, `B` longer than 256 bytes, a `p` of the wrong size.
        for (g_b, p) in [
            (p.clone(), p.clone()),
            (vec![0; 256], p.clone()),
            (vec![1; 257], p.clone()),
            (vec![2], p[1..].to_vec()),
        ] {
            assert!(
                refused(parameters(g_b, p, 3))
                    .await
                    .contains("out of range")
            );
        }
        // A generator grammers-crypto's check does not know (it would panic on it).
        assert!(
            refused(parameters(vec![2], p.clone(), 9))
                .await
                .contains("fails the check")
        );
        // An algorithm this client does not know, and no password at all.
        let mut unknown = parameters(vec![2], p.clone(), 3);
        unknown.current_algo = Some(tl::enums::PasswordKdfAlgo::Unknown);
        assert!(refused(unknown).await.contains("does not know"));
        let mut none = parameters(vec![2], p, 3);
        none.srp_b = None;
        assert!(refused(none).await.contains("no 2FA password"));
    }
}
