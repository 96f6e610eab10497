//! The account's own profile: `account.updateProfile` (names and bio),
//! `account.checkUsername` and `account.updateUsername`, with Telegram's rules and error
//! names (`FIRST_NAME_INVALID`, `ABOUT_TOO_LONG`, `USERNAME_INVALID`,
//! `USERNAME_OCCUPIED`, `USERNAME_NOT_MODIFIED`).
//!
//! Others see the change the next time they ask (`users.getUsers`, `users.getFullUser`,
//! dialogs). Not done: the `updateUserName` push Telegram sends to the account's other
//! sessions and to users who have it in their dialogs.

use grammers_tl_types::{self as tl, functions as f};

use super::{Call, RpcError};
use crate::render;
use crate::world::{UserId, World, valid_username};

/// Telegram's limit on first and last names, in characters.
const MAX_NAME_CHARS: usize = 64;
/// Telegram's limit on a bio for an account without Premium, in characters.
const MAX_ABOUT_CHARS: usize = 70;

/// Characters Telegram strips from names before checking them: whitespace and the
/// invisible ones (zero-width spaces and joiners, the word joiner, the BOM).
fn is_blank(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}')
}

fn clean_name(name: &str) -> String {
    name.trim_matches(is_blank).to_owned()
}

/// `account.updateProfile`: the given fields change; an empty `last_name` or `about`
/// removes it. `FIRST_NAME_INVALID` for a first name that is empty once trimmed (or over
/// 64 characters), `ABOUT_TOO_LONG` for a bio over 70.
pub(super) fn update_profile(
    call: &mut Call,
    request: f::account::UpdateProfile,
) -> Result<tl::enums::User, RpcError> {
    let me = call.require_user()?;
    let first_name = request.first_name.as_deref().map(clean_name);
    if let Some(first_name) = &first_name
        && (first_name.is_empty() || first_name.chars().count() > MAX_NAME_CHARS)
    {
        return Err(RpcError::bad_request("FIRST_NAME_INVALID"));
    }
    let last_name = request.last_name.as_deref().map(|name| {
        clean_name(name)
            .chars()
            .take(MAX_NAME_CHARS)
            .collect::<String>()
    });
    if request
        .about
        .as_deref()
        .is_some_and(|about| about.chars().count() > MAX_ABOUT_CHARS)
    {
        return Err(RpcError::bad_request("ABOUT_TOO_LONG"));
    }
    let record = call
        .state
        .world
        .users
        .get_mut(&me)
        .ok_or_else(RpcError::unauthorized)?;
    if let Some(first_name) = first_name {
        record.info.first_name = first_name;
    }
    if let Some(last_name) = last_name {
        record.info.last_name = (!last_name.is_empty()).then_some(last_name);
    }
    if let Some(about) = request.about {
        let about = about.trim().to_owned();
        record.about = (!about.is_empty()).then_some(about);
    }
    Ok(render::user(&call.state.world, me, me))
}

/// Whether `username` is free for `me`: `USERNAME_INVALID` when it breaks Telegram's
/// rules, `Ok(false)` when another user or a channel holds it.
fn username_free(world: &World, me: UserId, username: &str) -> Result<bool, RpcError> {
    if !valid_username(username) {
        return Err(RpcError::bad_request("USERNAME_INVALID"));
    }
    Ok(match world.resolve_username(username) {
        None => true,
        Some(holder) => holder == crate::world::Peer::User(me),
    })
}

/// `account.checkUsername`: `true` when the account may take `username`.
pub(super) fn check_username(
    call: &mut Call,
    request: f::account::CheckUsername,
) -> Result<bool, RpcError> {
    let me = call.require_user()?;
    username_free(
        &call.state.world,
        me,
        request.username.trim_start_matches('@'),
    )
}

/// `account.updateUsername`: sets the account's username; an empty one removes it.
/// `USERNAME_NOT_MODIFIED` when it is the account's already (case included),
/// `USERNAME_OCCUPIED` when someone else holds it (case-insensitively).
pub(super) fn update_username(
    call: &mut Call,
    request: f::account::UpdateUsername,
) -> Result<tl::enums::User, RpcError> {
    let me = call.require_user()?;
    let wanted = request.username.trim_start_matches('@');
    let world = &call.state.world;
    let current = world
        .users
        .get(&me)
        .ok_or_else(RpcError::unauthorized)?
        .info
        .username
        .clone();
    if current.as_deref().unwrap_or("") == wanted {
        return Err(RpcError::bad_request("USERNAME_NOT_MODIFIED"));
    }
    if !wanted.is_empty() && !username_free(world, me, wanted)? {
        return Err(RpcError::bad_request("USERNAME_OCCUPIED"));
    }
    let record = call
        .state
        .world
        .users
        .get_mut(&me)
        .ok_or_else(RpcError::unauthorized)?;
    record.info.username = (!wanted.is_empty()).then(|| wanted.to_owned());
    Ok(render::user(&call.state.world, me, me))
}
