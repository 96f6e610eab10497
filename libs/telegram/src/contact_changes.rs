//! Changing the account's contacts: adding one by phone number
//! (`contacts.importContacts`), by a user the account can address (id or username,
//! `contacts.addContact`), and deleting one (`contacts.deleteContacts`). Each answers the
//! user as the account sees them afterwards (named as saved, phone shown to contacts).
//!
//! A phone number nobody on Telegram has is not an error at Telegram (it is just not in
//! `imported`); it is reported here as `PHONE_NOT_OCCUPIED`, the name Telegram gives a
//! phone nobody has in `contacts.resolvePhone`.

use grammers_client::tl;

use crate::account::Account;
use crate::convert;
use crate::error::TelegramError;
use crate::groups::UserRef;
use crate::search::Contact;

/// A contact to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    /// Who: a phone number is imported, an id or username is added.
    pub user: UserRef,
    /// The first name to save them under.
    pub first_name: String,
    /// The last name to save them under (may be empty).
    pub last_name: String,
}

/// The user `user_id` from a reply's users, with whether they have the account in their
/// contacts too.
fn contact_in(users: &[tl::enums::User], user_id: i64) -> Result<Contact, TelegramError> {
    users
        .iter()
        .find_map(|raw| {
            let tl::enums::User::User(found) = raw else {
                return None;
            };
            (found.id == user_id)
                .then(|| convert::user(raw))
                .flatten()
                .map(|user| Contact {
                    user,
                    mutual: found.mutual_contact,
                })
        })
        .ok_or_else(|| TelegramError::Internal("Telegram answered without the contact".into()))
}

fn updates_users(updates: &tl::enums::Updates) -> &[tl::enums::User] {
    match updates {
        tl::enums::Updates::Updates(all) => &all.users,
        tl::enums::Updates::Combined(all) => &all.users,
        _ => &[],
    }
}

impl Account {
    /// Adds a contact; answers them as the account now sees them.
    pub async fn add_contact(&self, contact: &NewContact) -> Result<Contact, TelegramError> {
        if let UserRef::Phone(phone) = &contact.user {
            return self.import_contact(phone, contact).await;
        }
        let (user_id, input) = self.resolve_user(&contact.user).await?;
        let updates = self
            .call(&tl::functions::contacts::AddContact {
                add_phone_privacy_exception: false,
                id: input,
                first_name: contact.first_name.clone(),
                last_name: contact.last_name.clone(),
                phone: String::new(),
                note: None,
            })
            .await?;
        let users = updates_users(&updates);
        self.remember(users, &[]).await;
        contact_in(users, user_id)
    }

    async fn import_contact(
        &self,
        phone: &str,
        contact: &NewContact,
    ) -> Result<Contact, TelegramError> {
        let tl::enums::contacts::ImportedContacts::Contacts(imported) = self
            .call(&tl::functions::contacts::ImportContacts {
                contacts: vec![
                    tl::types::InputPhoneContact {
                        client_id: 1,
                        phone: phone.to_owned(),
                        first_name: contact.first_name.clone(),
                        last_name: contact.last_name.clone(),
                        note: None,
                    }
                    .into(),
                ],
            })
            .await?;
        self.remember(&imported.users, &[]).await;
        let Some(tl::enums::ImportedContact::Contact(found)) = imported.imported.first() else {
            return Err(TelegramError::Refused {
                code: 400,
                name: "PHONE_NOT_OCCUPIED".into(),
            });
        };
        contact_in(&imported.users, found.user_id)
    }

    /// Deletes a contact (a user this account has met: `USER_ID_INVALID` for others);
    /// answers them as the account now sees them.
    pub async fn delete_contact(&self, user_id: i64) -> Result<Contact, TelegramError> {
        let (user_id, input) = self.resolve_user(&UserRef::Id(user_id)).await?;
        let updates = self
            .call(&tl::functions::contacts::DeleteContacts { id: vec![input] })
            .await?;
        let users = updates_users(&updates);
        self.remember(users, &[]).await;
        contact_in(users, user_id)
    }
}
