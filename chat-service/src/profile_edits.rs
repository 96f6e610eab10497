//! Changes to the account's own profile and to its contacts, checked before Telegram is
//! asked (with Telegram's own limits), and Telegram's refusals of them as stable codes.
//!
//! Limits: a first name of 1 to 64 characters (not blank), a last name up to 64, a bio
//! up to 70 (Telegram's limit without Premium), one line each; a username of 5 to 32
//! letters, digits and underscores (Telegram also wants it to start with a letter and
//! answers `USERNAME_INVALID` otherwise), or empty to remove it.

use talkapp_common::ErrorCode;
use talkapp_telegram::contact_changes::NewContact;
use talkapp_telegram::own_profile::ProfileChange;

/// Telegram's longest first or last name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Telegram's longest bio without Premium, in characters.
pub const MAX_BIO_CHARS: usize = 70;
/// Telegram's shortest and longest username.
const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 5..=32;

/// The code of a Telegram refusal of a profile or contact change, when it is one of
/// those (the other refusals are coded with the rest).
pub(crate) fn refusal_code(name: &str) -> Option<ErrorCode> {
    match name {
        "USERNAME_OCCUPIED" | "USERNAME_PURCHASE_AVAILABLE" => Some(ErrorCode::UsernameTaken),
        "USERNAME_INVALID" => Some(ErrorCode::UsernameInvalid),
        "FIRST_NAME_INVALID" | "LASTNAME_INVALID" | "ABOUT_TOO_LONG" | "CONTACT_NAME_EMPTY"
        | "CONTACT_ID_INVALID" => Some(ErrorCode::ValidationFailed),
        _ => None,
    }
}

fn one_line(field: &str, text: &str) -> Result<(), String> {
    if text.chars().any(char::is_control) {
        return Err(format!(
            "{field} must be one line without control characters"
        ));
    }
    Ok(())
}

fn first_name(field: &str, text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_NAME_CHARS {
        return Err(format!("{field} must be 1 to {MAX_NAME_CHARS} characters"));
    }
    one_line(field, text)?;
    Ok(text.to_owned())
}

fn last_name(field: &str, text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "{field} must be at most {MAX_NAME_CHARS} characters"
        ));
    }
    one_line(field, text)?;
    Ok(text.to_owned())
}

fn username(text: &str) -> Result<String, String> {
    let text = text.trim().trim_start_matches('@');
    let valid = text.is_empty()
        || (USERNAME_CHARS.contains(&text.len())
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if !valid {
        return Err(
            "username must be 5 to 32 letters, digits and underscores (empty: none)".into(),
        );
    }
    Ok(text.to_owned())
}

/// A profile change, checked and trimmed; `None` fields stay as they are.
pub fn profile_change(
    first: Option<&str>,
    last: Option<&str>,
    bio: Option<&str>,
    user_name: Option<&str>,
) -> Result<ProfileChange, String> {
    let change = ProfileChange {
        first_name: first
            .map(|text| first_name("first_name", text))
            .transpose()?,
        last_name: last.map(|text| last_name("last_name", text)).transpose()?,
        bio: bio
            .map(|text| {
                let text = text.trim();
                if text.chars().count() > MAX_BIO_CHARS {
                    return Err(format!("bio must be at most {MAX_BIO_CHARS} characters"));
                }
                one_line("bio", text)?;
                Ok(text.to_owned())
            })
            .transpose()?,
        username: user_name.map(username).transpose()?,
    };
    if change.is_empty() {
        return Err("give at least one of first_name, last_name, bio, username".into());
    }
    Ok(change)
}

/// A contact to add, checked: `user` a Telegram user id, `@username` or `+phone`.
pub fn new_contact(user: &str, first: &str, last: &str) -> Result<NewContact, String> {
    Ok(NewContact {
        user: crate::groups::parse_member(user)?,
        first_name: first_name("first_name", first)?,
        last_name: last_name("last_name", last)?,
    })
}

#[cfg(test)]
mod tests {
    use talkapp_telegram::groups::UserRef;

    use super::*;

    #[test]
    fn a_profile_change_is_trimmed_and_kept_to_the_fields_given() {
        let change = profile_change(Some("  Ann "), None, Some(""), Some("@ann_b")).expect("valid");
        assert_eq!(
            change,
            ProfileChange {
                first_name: Some("Ann".into()),
                last_name: None,
                bio: Some(String::new()),
                username: Some("ann_b".into()),
            }
        );
    }

    #[test]
    fn profile_changes_over_telegrams_limits_are_refused() {
        let long_name = "n".repeat(MAX_NAME_CHARS + 1);
        let long_bio = "b".repeat(MAX_BIO_CHARS + 1);
        for (first, last, bio, user_name) in [
            (None, None, None, None),
            (Some("   "), None, None, None),
            (Some(long_name.as_str()), None, None, None),
            (None, Some(long_name.as_str()), None, None),
            (None, None, Some(long_bio.as_str()), None),
            (Some("two\nlines"), None, None, None),
            (None, None, None, Some("abcd")),
            (None, None, None, Some("has space")),
            (
                None,
                None,
                None,
                Some("way_too_long_a_username_for_telegram"),
            ),
            (None, None, None, Some("cyrиllic")),
        ] {
            assert!(
                profile_change(first, last, bio, user_name).is_err(),
                "{first:?} {last:?} {bio:?} {user_name:?}"
            );
        }
        // At the limits: accepted (counted in characters, not bytes).
        let name_at_limit = "ё".repeat(MAX_NAME_CHARS);
        let bio_at_limit = "ў".repeat(MAX_BIO_CHARS);
        assert!(profile_change(Some(&name_at_limit), None, Some(&bio_at_limit), None).is_ok());
    }

    #[test]
    fn a_contact_needs_a_user_and_a_first_name() {
        assert_eq!(
            new_contact("+998 90 123-45-67", "Ann", "")
                .expect("valid")
                .user,
            UserRef::Phone("+998901234567".into())
        );
        assert!(new_contact("", "Ann", "").is_err());
        assert!(new_contact("42", " ", "").is_err());
        assert!(new_contact("42", "Ann", &"x".repeat(MAX_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn telegrams_profile_refusals_have_their_own_codes() {
        assert_eq!(
            refusal_code("USERNAME_OCCUPIED"),
            Some(ErrorCode::UsernameTaken)
        );
        assert_eq!(
            refusal_code("USERNAME_INVALID"),
            Some(ErrorCode::UsernameInvalid)
        );
        for name in ["FIRST_NAME_INVALID", "ABOUT_TOO_LONG", "CONTACT_NAME_EMPTY"] {
            assert_eq!(refusal_code(name), Some(ErrorCode::ValidationFailed));
        }
        assert_eq!(refusal_code("PEER_FLOOD"), None);
    }

    #[test]
    fn the_account_hosts_error_mapping_uses_them() {
        let refused = |name: &str| talkapp_telegram::error::TelegramError::Refused {
            code: 400,
            name: name.to_owned(),
        };
        let code_of = |name: &str| crate::account_host::telegram_code(&refused(name)).0;
        assert_eq!(code_of("USERNAME_OCCUPIED"), ErrorCode::UsernameTaken);
        assert_eq!(code_of("USERNAME_INVALID"), ErrorCode::UsernameInvalid);
        assert_eq!(code_of("ABOUT_TOO_LONG"), ErrorCode::ValidationFailed);
        assert_eq!(code_of("PHONE_NOT_OCCUPIED"), ErrorCode::NotFound);
        assert_eq!(code_of("USERNAME_NOT_OCCUPIED"), ErrorCode::NotFound);
    }
}
