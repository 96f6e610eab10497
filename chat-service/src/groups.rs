//! Creating groups and channels and adding members: the requests as the domain takes
//! them (checked here, whichever transport brought them), the wire form of a member
//! (`123`, `@name`, `+998...`), and the idempotency of these actions (the first result
//! of an `Idempotency-Key` is kept in the store and given to retries, ADR 0021).

use sha2::{Digest as _, Sha256};
use talkapp_telegram::chat_info::ChatEdit;
use talkapp_telegram::groups::{GroupKind, NewGroup, UserRef};

/// Telegram's longest group or channel title.
pub const MAX_TITLE_CHARS: usize = 128;
/// Telegram's longest channel description.
pub const MAX_ABOUT_CHARS: usize = 255;
/// Telegram's most members `messages.createChat` / `channels.inviteToChannel` take at once.
pub const MAX_MEMBERS: usize = 200;
/// The longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;
/// The longest member reference (a username is 32 at most, a phone 15 digits).
const MAX_MEMBER_CHARS: usize = 64;

/// `group`, `supergroup` or `channel`.
pub fn parse_kind(kind: &str) -> Option<GroupKind> {
    match kind {
        "group" => Some(GroupKind::Group),
        "supergroup" => Some(GroupKind::Supergroup),
        "channel" => Some(GroupKind::Channel),
        _ => None,
    }
}

/// The wire name of a kind.
pub fn kind_name(kind: GroupKind) -> &'static str {
    match kind {
        GroupKind::Group => "group",
        GroupKind::Supergroup => "supergroup",
        GroupKind::Channel => "channel",
    }
}

/// A member as a caller names them: a Telegram user id (digits), `@username` (or a bare
/// username, starting with a letter) or a phone number starting with `+`.
pub fn parse_member(text: &str) -> Result<UserRef, String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_MEMBER_CHARS {
        return Err(format!(
            "a member is a user id, @username or +phone (1 to {MAX_MEMBER_CHARS} characters)"
        ));
    }
    if let Some(phone) = text.strip_prefix('+') {
        let digits: String = phone
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        if (5..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
            return Ok(UserRef::Phone(format!("+{digits}")));
        }
        return Err(format!("{text:?} is not a phone number"));
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(UserRef::Id)
            .ok_or_else(|| format!("{text:?} is not a Telegram user id"));
    }
    let username = text.strip_prefix('@').unwrap_or(text);
    let valid = (4..=32).contains(&username.len())
        && username.starts_with(|c: char| c.is_ascii_alphabetic())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(UserRef::Username(username.to_owned()))
    } else {
        Err(format!("{text:?} is not a user id, @username or +phone"))
    }
}

fn has_control_characters(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// Checks a request to create a group; the reason when it is not acceptable.
pub fn new_group(
    title: &str,
    kind: &str,
    about: &str,
    members: &[String],
) -> Result<NewGroup, String> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(format!("title must be 1 to {MAX_TITLE_CHARS} characters"));
    }
    if has_control_characters(title) || title.contains('\n') {
        return Err("title must be one line without control characters".into());
    }
    let kind = parse_kind(kind).ok_or("kind must be group, supergroup or channel")?;
    if about.chars().count() > MAX_ABOUT_CHARS || has_control_characters(about) {
        return Err(format!(
            "about must be at most {MAX_ABOUT_CHARS} characters without control characters"
        ));
    }
    if kind == GroupKind::Group && !about.trim().is_empty() {
        // Not yet: a basic group's description needs `messages.editChatAbout`.
        return Err("about is taken for supergroups and channels only".into());
    }
    if members.len() > MAX_MEMBERS {
        return Err(format!("at most {MAX_MEMBERS} members at once"));
    }
    if kind == GroupKind::Group && members.is_empty() {
        return Err("a group needs at least one member besides its creator".into());
    }
    let members = members
        .iter()
        .map(|member| parse_member(member))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NewGroup {
        title: title.to_owned(),
        about: about.trim().to_owned(),
        kind,
        members,
    })
}

/// Checks a change of a chat's title and / or description (at least one); the reason
/// when it is not acceptable.
pub fn chat_edit(title: Option<String>, about: Option<String>) -> Result<ChatEdit, String> {
    if title.is_none() && about.is_none() {
        return Err("give a title, an about, or both".into());
    }
    let title = match title {
        Some(title) => {
            let title = title.trim();
            if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
                return Err(format!("title must be 1 to {MAX_TITLE_CHARS} characters"));
            }
            if has_control_characters(title) || title.contains('\n') {
                return Err("title must be one line without control characters".into());
            }
            Some(title.to_owned())
        }
        None => None,
    };
    if let Some(about) = &about
        && (about.chars().count() > MAX_ABOUT_CHARS || has_control_characters(about))
    {
        return Err(format!(
            "about must be at most {MAX_ABOUT_CHARS} characters without control characters"
        ));
    }
    Ok(ChatEdit {
        title,
        about: about.map(|about| about.trim().to_owned()),
    })
}

/// Checks an idempotency key: `None` for none (an empty one is none too), the reason
/// when it is not acceptable.
pub fn idempotency_key(key: Option<&str>) -> Result<Option<String>, String> {
    let Some(key) = key.filter(|key| !key.is_empty()) else {
        return Ok(None);
    };
    let printable = key.chars().all(|c| c.is_ascii_graphic());
    if key.len() > MAX_IDEMPOTENCY_KEY_CHARS || !printable {
        return Err(format!(
            "the idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters"
        ));
    }
    Ok(Some(key.to_owned()))
}

/// A digest of a request's parts, to tell a retry from another request under one key.
pub fn request_digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The wire form of a member, the inverse of [`parse_member`].
pub fn member_text(member: &UserRef) -> String {
    match member {
        UserRef::Id(id) => id.to_string(),
        UserRef::Username(username) => format!("@{username}"),
        UserRef::Phone(phone) => phone.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_ids_usernames_or_phones_and_nothing_else() {
        assert_eq!(parse_member("42"), Ok(UserRef::Id(42)));
        assert_eq!(
            parse_member("@bob_sandbox"),
            Ok(UserRef::Username("bob_sandbox".into()))
        );
        assert_eq!(
            parse_member("bob_sandbox"),
            Ok(UserRef::Username("bob_sandbox".into()))
        );
        assert_eq!(
            parse_member("+998 (90) 123-45-67"),
            Ok(UserRef::Phone("+998901234567".into()))
        );
        for bad in [
            "",
            "0",
            "@ab",
            "+12",
            "+12ab5678",
            "@1abc",
            "a b c d",
            "99999999999999999999",
        ] {
            assert!(parse_member(bad).is_err(), "{bad:?}");
        }
        for member in [
            UserRef::Id(7),
            UserRef::Username("carol".into()),
            UserRef::Phone("+99966".into()),
        ] {
            assert_eq!(parse_member(&member_text(&member)), Ok(member));
        }
    }

    #[test]
    fn a_group_request_is_checked_before_telegram_is_asked() {
        let bob = vec!["@bob_sandbox".to_owned()];
        assert!(new_group("Plans", "group", "", &bob).is_ok());
        assert!(new_group("  ", "group", "", &bob).is_err());
        assert!(new_group(&"t".repeat(129), "group", "", &bob).is_err());
        assert!(new_group("Plans", "club", "", &bob).is_err());
        assert!(new_group("Plans", "group", "", &[]).is_err());
        assert!(new_group("Plans", "channel", "", &[]).is_ok());
        assert!(new_group("Plans", "group", "about", &bob).is_err());
        assert!(new_group("Plans", "supergroup", &"a".repeat(256), &bob).is_err());
        assert!(new_group("Pl\u{7}ans", "supergroup", "", &bob).is_err());
        let too_many: Vec<String> = (1..=201).map(|id| id.to_string()).collect();
        assert!(new_group("Plans", "supergroup", "", &too_many).is_err());
    }

    #[test]
    fn a_chat_edit_names_something_to_change_within_telegrams_limits() {
        assert!(chat_edit(None, None).is_err());
        assert_eq!(
            chat_edit(Some(" Plans ".into()), None).map(|edit| edit.title),
            Ok(Some("Plans".into()))
        );
        assert_eq!(
            chat_edit(None, Some(String::new())).map(|edit| edit.about),
            Ok(Some(String::new()))
        );
        assert!(chat_edit(Some(" ".into()), None).is_err());
        assert!(chat_edit(Some("t".repeat(129)), None).is_err());
        assert!(chat_edit(Some("two\nlines".into()), None).is_err());
        assert!(chat_edit(None, Some("a".repeat(256))).is_err());
        assert!(chat_edit(None, Some("bell\u{7}".into())).is_err());
    }

    #[test]
    fn digests_tell_requests_apart() {
        assert_eq!(request_digest(&["a", "b"]), request_digest(&["a", "b"]));
        assert_ne!(request_digest(&["ab", "c"]), request_digest(&["a", "bc"]));
        assert!(idempotency_key(None).expect("none").is_none());
        assert!(idempotency_key(Some("")).expect("empty is none").is_none());
        assert!(idempotency_key(Some("key with space")).is_err());
        assert!(idempotency_key(Some(&"k".repeat(129))).is_err());
        assert_eq!(
            idempotency_key(Some("k1")).expect("a key"),
            Some("k1".to_owned())
        );
    }
}
