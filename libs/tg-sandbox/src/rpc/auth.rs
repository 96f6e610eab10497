//! `auth.*`: logging in with a code (and a password), signing up, logging out.
//!
//! Codes follow Telegram's test-DC convention: phone numbers `99966XYYYY` receive the code
//! `X` repeated five times (`9996620001` gets `22222`); nothing is ever sent anywhere.

use grammers_tl_types::{self as tl, functions as f};
use rand::RngCore;

use super::{Call, RpcError, Save};
use crate::render;
use crate::state::PendingCode;
use crate::world::{NewUser, UserId, normalize_phone};

/// The code a test-DC phone number receives, `None` for other numbers.
pub(crate) fn test_code(phone: &str) -> Option<String> {
    let digits = normalize_phone(phone);
    let dc_digit = digits
        .strip_prefix("99966")
        .filter(|rest| rest.len() == 5)?
        .chars()
        .next()?;
    Some(dc_digit.to_string().repeat(5))
}

fn authorization(call: &Call, user: UserId) -> tl::enums::auth::Authorization {
    tl::types::auth::Authorization {
        setup_password_required: false,
        otherwise_relogin_days: None,
        tmp_sessions: None,
        future_auth_token: None,
        user: render::user(&call.state.world, user, user),
    }
    .into()
}

/// Binds the caller's key to the account: from now on it is signed in.
fn bind_key(call: &mut Call, user: UserId) {
    call.must_save(Save::CallerKey);
    if let Some(key) = call.state.keys.get_mut(&call.key_id) {
        key.user = Some(user);
        key.awaiting_password = None;
        key.srp = None;
    }
}

pub(super) fn send_code(
    call: &mut Call,
    request: f::auth::SendCode,
) -> Result<tl::enums::auth::SentCode, RpcError> {
    if request.api_id <= 0 {
        return Err(RpcError::bad_request("API_ID_INVALID"));
    }
    let phone = normalize_phone(&request.phone_number);
    let code = test_code(&phone).ok_or_else(|| RpcError::bad_request("PHONE_NUMBER_INVALID"))?;
    let registered = call.state.world.user_by_phone(&phone).is_some();

    let mut hash = [0u8; 9];
    rand::rng().fill_bytes(&mut hash);
    let phone_code_hash: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    call.state.codes.insert(
        phone_code_hash.clone(),
        PendingCode {
            phone,
            code,
            verified: false,
        },
    );

    // A registered account gets the code in its Telegram apps, a new number by SMS.
    let code_type = if registered {
        tl::types::auth::SentCodeTypeApp { length: 5 }.into()
    } else {
        tl::types::auth::SentCodeTypeSms { length: 5 }.into()
    };
    Ok(tl::types::auth::SentCode {
        r#type: code_type,
        phone_code_hash,
        next_type: None,
        timeout: None,
    }
    .into())
}

/// The pending `auth.sendCode` a `phone_code_hash` refers to, for this phone number.
fn pending_code<'a>(
    call: &'a Call,
    phone: &str,
    phone_code_hash: &str,
) -> Result<&'a PendingCode, RpcError> {
    if phone_code_hash.is_empty() {
        return Err(RpcError::bad_request("PHONE_CODE_HASH_EMPTY"));
    }
    let pending = call
        .state
        .codes
        .get(phone_code_hash)
        .ok_or_else(|| RpcError::bad_request("PHONE_CODE_EXPIRED"))?;
    if pending.phone != phone {
        return Err(RpcError::bad_request("PHONE_NUMBER_INVALID"));
    }
    Ok(pending)
}

/// Checks a code against the pending `auth.sendCode` it answers.
fn check_code(
    call: &Call,
    phone: &str,
    phone_code_hash: &str,
    code: Option<&str>,
) -> Result<(), RpcError> {
    let pending = pending_code(call, phone, phone_code_hash)?;
    match code {
        None | Some("") => Err(RpcError::bad_request("PHONE_CODE_EMPTY")),
        Some(code) if code != pending.code => Err(RpcError::bad_request("PHONE_CODE_INVALID")),
        Some(_) => Ok(()),
    }
}

pub(super) fn sign_in(
    call: &mut Call,
    request: f::auth::SignIn,
) -> Result<tl::enums::auth::Authorization, RpcError> {
    let phone = normalize_phone(&request.phone_number);
    check_code(
        call,
        &phone,
        &request.phone_code_hash,
        request.phone_code.as_deref(),
    )?;
    let Some(user) = call.state.world.user_by_phone(&phone) else {
        // The code stays valid for auth.signUp.
        if let Some(pending) = call.state.codes.get_mut(&request.phone_code_hash) {
            pending.verified = true;
        }
        return Ok(tl::types::auth::AuthorizationSignUpRequired {
            terms_of_service: None,
        }
        .into());
    };
    call.state.codes.remove(&request.phone_code_hash);

    let has_password = call.state.world.user(user).is_some_and(|u| u.has_password);
    if has_password {
        if let Some(key) = call.state.keys.get_mut(&call.key_id) {
            key.awaiting_password = Some(user);
        }
        return Err(RpcError::new(401, "SESSION_PASSWORD_NEEDED"));
    }
    bind_key(call, user);
    Ok(authorization(call, user))
}

pub(super) fn sign_up(
    call: &mut Call,
    request: f::auth::SignUp,
) -> Result<tl::enums::auth::Authorization, RpcError> {
    let phone = normalize_phone(&request.phone_number);
    // The code itself was checked by auth.signIn, which answered "sign up required".
    if !pending_code(call, &phone, &request.phone_code_hash)?.verified {
        return Err(RpcError::bad_request("PHONE_CODE_INVALID"));
    }
    if call.state.world.user_by_phone(&phone).is_some() {
        return Err(RpcError::bad_request("PHONE_NUMBER_OCCUPIED"));
    }
    let first_name = request.first_name.trim();
    if first_name.is_empty() || first_name.chars().count() > 64 {
        return Err(RpcError::bad_request("FIRSTNAME_INVALID"));
    }
    let last_name = Some(request.last_name.trim()).filter(|l| !l.is_empty());
    let user = call
        .state
        .world
        .add_user(NewUser::new(first_name, last_name, &phone))
        .map_err(|_| RpcError::bad_request("PHONE_NUMBER_INVALID"))?;
    call.state.codes.remove(&request.phone_code_hash);
    bind_key(call, user);
    call.must_save(Save::Everything);
    Ok(authorization(call, user))
}

pub(super) fn check_password(
    call: &mut Call,
    request: f::auth::CheckPassword,
) -> Result<tl::enums::auth::Authorization, RpcError> {
    let key = call
        .state
        .keys
        .get(&call.key_id)
        .ok_or_else(RpcError::unauthorized)?;
    let user = key.awaiting_password.ok_or_else(RpcError::unauthorized)?;
    let tl::enums::InputCheckPasswordSrp::Srp(proof) = request.password else {
        return Err(RpcError::bad_request("PASSWORD_HASH_INVALID"));
    };
    let challenge = key
        .srp
        .as_ref()
        .filter(|c| c.srp_id == proof.srp_id)
        .ok_or_else(|| RpcError::bad_request("SRP_ID_INVALID"))?;
    let verifier = call
        .state
        .world
        .users
        .get(&user)
        .and_then(|u| u.password.as_ref())
        .ok_or_else(|| RpcError::bad_request("PASSWORD_HASH_INVALID"))?;
    // A wrong password keeps the SRP round: the client may retry with the same srp_id.
    if !challenge.verify(verifier, &proof.a, &proof.m1) {
        return Err(RpcError::bad_request("PASSWORD_HASH_INVALID"));
    }
    bind_key(call, user);
    Ok(authorization(call, user))
}

pub(super) fn log_out(
    call: &mut Call,
    _: f::auth::LogOut,
) -> Result<tl::enums::auth::LoggedOut, RpcError> {
    call.must_save(Save::CallerKey);
    if let Some(key) = call.state.keys.get_mut(&call.key_id) {
        key.user = None;
        key.awaiting_password = None;
        key.srp = None;
    }
    Ok(tl::types::auth::LoggedOut {
        future_auth_token: None,
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::test_code;

    #[test]
    fn test_dc_numbers_get_their_dc_digit_five_times() {
        assert_eq!(test_code("+9996620001").as_deref(), Some("22222"));
        assert_eq!(test_code("999 66 1 2345").as_deref(), Some("11111"));
        assert_eq!(test_code("+15551234567"), None);
        assert_eq!(test_code("99966200011"), None);
    }
}
