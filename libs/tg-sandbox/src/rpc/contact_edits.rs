//! Changing the account's contacts: `contacts.importContacts` (by phone number),
//! `contacts.addContact` (a user the account can address) and `contacts.deleteContacts`,
//! as Telegram does them: a contact is saved under the name the account gives
//! (`CONTACT_NAME_EMPTY` without a first name), a phone nobody has is simply not in
//! `imported`, and adding oneself is `CONTACT_ID_INVALID`.
//!
//! Not done: `retry_contacts` and `popular_invites` (always empty), and the
//! `updatePeerSettings` Telegram puts in the answers (they carry the users only).

use grammers_tl_types::{self as tl, functions as f};

use super::{Call, RpcError, resolve};
use crate::render::{self, Mentions};
use crate::world::{ContactName, Peer, UserId};

/// Most contacts one `contacts.importContacts` takes (Telegram's limit per call).
const MAX_IMPORTED_AT_ONCE: usize = 1000;

fn contact_name(first_name: &str, last_name: &str) -> Result<ContactName, RpcError> {
    let first_name = first_name.trim();
    if first_name.is_empty() {
        return Err(RpcError::bad_request("CONTACT_NAME_EMPTY"));
    }
    let last_name = last_name.trim();
    Ok(ContactName {
        first_name: first_name.to_owned(),
        last_name: (!last_name.is_empty()).then(|| last_name.to_owned()),
    })
}

/// Saves `contact` in `owner`'s contacts under `name`.
fn save_contact(call: &mut Call, owner: UserId, contact: UserId, name: ContactName) {
    if let Some(record) = call.state.world.users.get_mut(&owner) {
        record.contacts.insert(contact);
        record.contact_names.insert(contact, name);
    }
}

/// `contacts.importContacts`: each phone number that belongs to a Telegram user becomes
/// a contact, named as given; numbers nobody has are left out of `imported`.
pub(super) fn import_contacts(
    call: &mut Call,
    request: f::contacts::ImportContacts,
) -> Result<tl::enums::contacts::ImportedContacts, RpcError> {
    let me = call.require_user()?;
    if request.contacts.len() > MAX_IMPORTED_AT_ONCE {
        return Err(RpcError::bad_request("CONTACTS_TOO_MUCH"));
    }
    let mut imported = Vec::new();
    let mut mentions = Mentions::default();
    for tl::enums::InputContact::InputPhoneContact(contact) in request.contacts {
        let name = contact_name(&contact.first_name, &contact.last_name)?;
        let Some(user) = call.state.world.user_by_phone(&contact.phone) else {
            continue;
        };
        if user == me {
            continue;
        }
        save_contact(call, me, user, name);
        mentions.peer(Peer::User(user));
        imported.push(
            tl::types::ImportedContact {
                user_id: user,
                client_id: contact.client_id,
            }
            .into(),
        );
    }
    Ok(tl::types::contacts::ImportedContacts {
        imported,
        popular_invites: Vec::new(),
        retry_contacts: Vec::new(),
        users: mentions.users(&call.state.world, me),
    }
    .into())
}

/// `contacts.addContact`: a user the account can address becomes a contact, named as
/// given (the phone, when the request has one, is not checked against theirs).
pub(super) fn add_contact(
    call: &mut Call,
    request: f::contacts::AddContact,
) -> Result<tl::enums::Updates, RpcError> {
    let me = call.require_user()?;
    let user = resolve::user(&call.state.world, me, &request.id)
        .ok_or_else(|| RpcError::bad_request("CONTACT_ID_INVALID"))?;
    if user == me {
        return Err(RpcError::bad_request("CONTACT_ID_INVALID"));
    }
    let name = contact_name(&request.first_name, &request.last_name)?;
    save_contact(call, me, user, name);
    let mut mentions = Mentions::default();
    mentions.peer(Peer::User(user));
    Ok(render::updates(
        &call.state.world,
        me,
        Vec::new(),
        &mentions,
        call.now,
    ))
}

/// `contacts.deleteContacts`: the users named stop being contacts (users that were not
/// contacts are left as they are); the answer carries them as the account now sees them.
pub(super) fn delete_contacts(
    call: &mut Call,
    request: f::contacts::DeleteContacts,
) -> Result<tl::enums::Updates, RpcError> {
    let me = call.require_user()?;
    let mut mentions = Mentions::default();
    for input in &request.id {
        let user = resolve::user(&call.state.world, me, input)
            .ok_or_else(|| RpcError::bad_request("CONTACT_ID_INVALID"))?;
        if let Some(record) = call.state.world.users.get_mut(&me) {
            record.contacts.remove(&user);
            record.contact_names.remove(&user);
        }
        mentions.peer(Peer::User(user));
    }
    Ok(render::updates(
        &call.state.world,
        me,
        Vec::new(),
        &mentions,
        call.now,
    ))
}
