//! `account.*`: the 2FA parameters a login needs, and online status.

use grammers_tl_types::{self as tl, functions as f};
use rand::RngCore;

use super::{Call, RpcError};
use crate::render;
use crate::srp;
use crate::state::Push;
use crate::world::UserId;

/// How long an account counts as online after `account.updateStatus(offline=false)`.
/// Official clients repeat the call every `online_update_period_ms` (210 s).
const ONLINE_FOR_SECONDS: i32 = 300;

/// `account.updateStatus`: the account goes online (for five minutes) or offline, and
/// every account that has it as a contact gets `updateUserStatus`.
pub(super) fn update_status(
    call: &mut Call,
    request: f::account::UpdateStatus,
) -> Result<bool, RpcError> {
    let user = call.require_user()?;
    set_status(call, user, request.offline)
}

/// `user` goes online (for five minutes) or offline, as with `account.updateStatus`; the
/// updates for its watchers go to `call.pushes`.
pub(crate) fn set_status(call: &mut Call, user: UserId, offline: bool) -> Result<bool, RpcError> {
    let now = call.now;
    let world = &mut call.state.world;
    let record = world
        .users
        .get_mut(&user)
        .ok_or_else(RpcError::unauthorized)?;
    record.was_online = now;
    record.online_until = if offline { 0 } else { now + ONLINE_FOR_SECONDS };
    let world = &call.state.world;
    let Some(record) = world.users.get(&user) else {
        return Ok(true);
    };
    let status = render::user_status(record, now);
    let watchers: Vec<UserId> = world
        .users
        .values()
        .filter(|u| u.info.id != user && u.contacts.contains(&user))
        .map(|u| u.info.id)
        .collect();
    for watcher in watchers {
        call.pushes.push(Push {
            user: watcher,
            updates: tl::types::UpdateShort {
                update: tl::types::UpdateUserStatus {
                    user_id: user,
                    status: status.clone(),
                }
                .into(),
                date: now,
            }
            .into(),
            except: None,
        });
    }
    Ok(true)
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    rand::rng().fill_bytes(&mut out);
    out
}

fn kdf_algo(salt1: Vec<u8>, salt2: Vec<u8>) -> tl::enums::PasswordKdfAlgo {
    tl::types::PasswordKdfAlgoSha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow {
        salt1,
        salt2,
        g: srp::G,
        p: srp::prime_bytes().to_vec(),
    }
    .into()
}

/// `account.getPassword`, for a signed-in account or one that passed the code step and
/// was told `SESSION_PASSWORD_NEEDED`. Each call starts a new SRP round.
pub(super) fn get_password(
    call: &mut Call,
    _: f::account::GetPassword,
) -> Result<tl::enums::account::Password, RpcError> {
    let key = call
        .state
        .keys
        .get(&call.key_id)
        .ok_or_else(RpcError::unauthorized)?;
    let user = key
        .user
        .or(key.awaiting_password)
        .ok_or_else(RpcError::unauthorized)?;
    let verifier = call
        .state
        .world
        .users
        .get(&user)
        .and_then(|u| u.password.clone());

    // Parameters for setting a new password: the server's salt1 prefix, to which the
    // client appends 32 random bytes.
    let new_algo = kdf_algo(random_bytes(8), random_bytes(16));
    let new_secure_algo = tl::types::SecurePasswordKdfAlgoPbkdf2Hmacsha512iter100000 {
        salt: random_bytes(8),
    }
    .into();

    let password = match verifier {
        Some(verifier) => {
            let challenge = srp::Challenge::new(&verifier);
            let answer = tl::types::account::Password {
                has_recovery: false,
                has_secure_values: false,
                has_password: true,
                current_algo: Some(kdf_algo(verifier.salt1.clone(), verifier.salt2.clone())),
                srp_b: Some(challenge.g_b.to_vec()),
                srp_id: Some(challenge.srp_id),
                hint: verifier.hint.clone(),
                email_unconfirmed_pattern: None,
                new_algo,
                new_secure_algo,
                secure_random: random_bytes(256),
                pending_reset_date: None,
                login_email_pattern: None,
            };
            if let Some(key) = call.state.keys.get_mut(&call.key_id) {
                key.srp = Some(challenge);
            }
            answer
        }
        None => tl::types::account::Password {
            has_recovery: false,
            has_secure_values: false,
            has_password: false,
            current_algo: None,
            srp_b: None,
            srp_id: None,
            hint: None,
            email_unconfirmed_pattern: None,
            new_algo,
            new_secure_algo,
            secure_random: random_bytes(256),
            pending_reset_date: None,
            login_email_pattern: None,
        },
    };
    Ok(password.into())
}
