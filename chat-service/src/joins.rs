//! Joining chats and invite links: the requests as the domain takes them, checked here
//! whichever transport brought them (a username in its three spellings, an invite link
//! in its three, a link's settings and changes within Telegram's limits, the pages and
//! cursors of the lists of links and of join requests).

use talkapp_telegram::joins::{InviteEdit, InviteSettings, JoinTarget};

/// The longest username or invite link accepted.
pub const MAX_LINK_CHARS: usize = 256;
/// Telegram's longest invite link title.
pub const MAX_INVITE_TITLE_CHARS: usize = 32;
/// Telegram's most uses of one link.
pub const MAX_USAGE_LIMIT: i32 = 99_999;
/// Telegram's longest invite hash (they are 16 to 22 characters; older ones up to 32).
const MAX_HASH_CHARS: usize = 64;
/// The farthest in the future a link may expire (about ten years), in seconds.
const MAX_EXPIRY_SECS: i64 = 10 * 366 * 24 * 3600;
/// The most links or join requests one page lists (Telegram's own most).
pub const MAX_PAGE: u32 = 100;
/// A page's size when none is asked for.
pub const DEFAULT_PAGE: u32 = 50;
/// The longest cursor accepted.
const MAX_CURSOR_CHARS: usize = 128;

/// The hosts an invite or username link may name.
const LINK_HOSTS: &[&str] = &["t.me/", "telegram.me/", "telegram.dog/"];

fn without_scheme(text: &str) -> &str {
    let text = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .unwrap_or(text);
    text.strip_prefix("www.").unwrap_or(text)
}

fn valid_hash(hash: &str) -> bool {
    !hash.is_empty()
        && hash.len() <= MAX_HASH_CHARS
        && hash
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The hash of an invite link: `https://t.me/+HASH`, `t.me/joinchat/HASH` or
/// `tg://join?invite=HASH` (with or without a scheme, on t.me, telegram.me or
/// telegram.dog).
pub fn invite_hash(link: &str) -> Result<String, String> {
    let link = link.trim();
    if link.is_empty() || link.chars().count() > MAX_LINK_CHARS {
        return Err(format!(
            "invite_link must be 1 to {MAX_LINK_CHARS} characters"
        ));
    }
    let not_an_invite = || {
        format!(
            "{link:?} is not an invite link (https://t.me/+HASH, t.me/joinchat/HASH or tg://join?invite=HASH)"
        )
    };
    let hash = if let Some(query) = link.strip_prefix("tg://join?") {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("invite="))
            .ok_or_else(not_an_invite)?
    } else {
        let rest = without_scheme(link);
        let path = LINK_HOSTS
            .iter()
            .find_map(|host| rest.strip_prefix(host))
            .ok_or_else(not_an_invite)?;
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let path = path.strip_suffix('/').unwrap_or(path);
        path.strip_prefix('+')
            .or_else(|| path.strip_prefix("joinchat/"))
            .ok_or_else(not_an_invite)?
    };
    if valid_hash(hash) {
        Ok(hash.to_owned())
    } else {
        Err(not_an_invite())
    }
}

/// A public chat's username: `@name`, `name` or `t.me/name` (Telegram's rule: 5 to 32
/// letters, digits and underscores, starting with a letter).
pub fn username(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_LINK_CHARS {
        return Err(format!("username must be 1 to {MAX_LINK_CHARS} characters"));
    }
    let rest = without_scheme(text);
    let name = match LINK_HOSTS.iter().find_map(|host| rest.strip_prefix(host)) {
        Some(path) => {
            let path = path.split(['?', '#']).next().unwrap_or_default();
            path.strip_suffix('/').unwrap_or(path)
        }
        None => text.strip_prefix('@').unwrap_or(text),
    };
    let valid = (5..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "{text:?} is not a username (@name, name or t.me/name; an invite link goes in invite_link)"
        ))
    }
}

/// What to join: exactly one of a username and an invite link.
pub fn join_target(
    username: Option<&str>,
    invite_link: Option<&str>,
) -> Result<JoinTarget, String> {
    match (username, invite_link) {
        (Some(name), None) => self::username(name).map(JoinTarget::Username),
        (None, Some(link)) => invite_hash(link).map(JoinTarget::InviteHash),
        (Some(_), Some(_)) => Err("give a username or an invite_link, not both".into()),
        (None, None) => Err("give a username or an invite_link".into()),
    }
}

/// Checks a link's settings against Telegram's limits; `now` in Unix seconds.
pub fn invite_settings(
    expire_date: Option<i64>,
    usage_limit: Option<i32>,
    title: Option<String>,
    request_needed: bool,
    now: i64,
) -> Result<InviteSettings, String> {
    let expire_date = expire_date.map(|date| expiry(date, now)).transpose()?;
    if usage_limit.is_some_and(|limit| !(1..=MAX_USAGE_LIMIT).contains(&limit)) {
        return Err(format!("usage_limit must be 1 to {MAX_USAGE_LIMIT}"));
    }
    if request_needed && usage_limit.is_some() {
        // Telegram's rule: a link that needs approval has no usage limit.
        return Err("a link with request_needed takes no usage_limit".into());
    }
    let title = title
        .map(invite_title)
        .transpose()?
        .filter(|title| !title.is_empty());
    Ok(InviteSettings {
        expire_date,
        usage_limit,
        title,
        request_needed,
    })
}

/// A link's expiry: a Unix time in the future, not too far.
fn expiry(date: i64, now: i64) -> Result<i32, String> {
    if date <= now {
        return Err("expire_date must be in the future (Unix seconds)".into());
    }
    if date > now + MAX_EXPIRY_SECS {
        return Err("expire_date is too far in the future".into());
    }
    i32::try_from(date).map_err(|_| "expire_date is out of range".into())
}

/// A link's title, trimmed: at most 32 characters on one line (empty: none).
fn invite_title(title: String) -> Result<String, String> {
    let title = title.trim().to_owned();
    if title.chars().count() > MAX_INVITE_TITLE_CHARS || title.chars().any(char::is_control) {
        return Err(format!(
            "title must be at most {MAX_INVITE_TITLE_CHARS} characters on one line"
        ));
    }
    Ok(title)
}

/// A change to a link: revoking it (nothing else with it), or at least one of its
/// settings (an `expire_date` or `usage_limit` of 0 removes it, an empty title too);
/// `now` in Unix seconds.
pub fn invite_edit(
    invite_link: &str,
    revoke: bool,
    expire_date: Option<i64>,
    usage_limit: Option<i32>,
    title: Option<String>,
    request_needed: Option<bool>,
    now: i64,
) -> Result<InviteEdit, String> {
    let hash = invite_hash(invite_link)?;
    let changes = expire_date.is_some()
        || usage_limit.is_some()
        || title.is_some()
        || request_needed.is_some();
    if revoke && changes {
        return Err("revoking takes no other change".into());
    }
    if !revoke && !changes {
        return Err(
            "give at least one of expire_date, usage_limit, title and request_needed".into(),
        );
    }
    let expire_date = expire_date
        .map(|date| if date == 0 { Ok(0) } else { expiry(date, now) })
        .transpose()?;
    if usage_limit.is_some_and(|limit| !(0..=MAX_USAGE_LIMIT).contains(&limit)) {
        return Err(format!(
            "usage_limit must be 0 (no limit) or 1 to {MAX_USAGE_LIMIT}"
        ));
    }
    if request_needed == Some(true) && usage_limit.is_some_and(|limit| limit > 0) {
        return Err("a link with request_needed takes no usage_limit".into());
    }
    Ok(InviteEdit {
        hash,
        revoke,
        expire_date,
        usage_limit,
        title: title.map(invite_title).transpose()?,
        request_needed,
    })
}

/// A page's size: 1 to 100; 0 is the default, 50.
pub fn page_limit(limit: u32) -> Result<i32, String> {
    match limit {
        0 => Ok(DEFAULT_PAGE as i32),
        1..=MAX_PAGE => Ok(limit as i32),
        _ => Err(format!("limit must be 1 to {MAX_PAGE}")),
    }
}

/// The cursor after a listed link: `DATE:HASH`.
pub fn invite_cursor_after(date: i32, link: &str) -> String {
    let hash = invite_hash(link).unwrap_or_default();
    format!("{date}:{hash}")
}

/// The link a cursor names: its date and hash.
pub fn invite_cursor(cursor: &str) -> Result<(i32, String), String> {
    let bad = || "cursor is not one this list gave".to_owned();
    if cursor.chars().count() > MAX_CURSOR_CHARS {
        return Err(bad());
    }
    let (date, hash) = cursor.split_once(':').ok_or_else(bad)?;
    let date = date.parse::<i32>().map_err(|_| bad())?;
    if !valid_hash(hash) {
        return Err(bad());
    }
    Ok((date, hash.to_owned()))
}

/// The request a cursor names: its date and user (`DATE:USER`).
pub fn request_cursor(cursor: &str) -> Result<(i32, i64), String> {
    let bad = || "cursor is not one this list gave".to_owned();
    if cursor.chars().count() > MAX_CURSOR_CHARS {
        return Err(bad());
    }
    let (date, user) = cursor.split_once(':').ok_or_else(bad)?;
    let date = date.parse::<i32>().map_err(|_| bad())?;
    let user = user
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(bad)?;
    Ok((date, user))
}

/// A requester: a Telegram user id.
pub fn requester(user: &str) -> Result<i64, String> {
    user.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            "user must be the Telegram user id of the request (a positive number)".into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invite_links_are_read_in_telegrams_three_spellings_and_nothing_else() {
        for link in [
            "https://t.me/+AbC_d-9",
            "t.me/+AbC_d-9",
            "http://telegram.me/joinchat/AbC_d-9",
            "t.me/joinchat/AbC_d-9/",
            "tg://join?invite=AbC_d-9",
            " https://www.t.me/+AbC_d-9?utm=x ",
        ] {
            assert_eq!(invite_hash(link), Ok("AbC_d-9".to_owned()), "{link}");
        }
        for bad in [
            "",
            "https://t.me/sandbox_lounge",
            "https://example.com/+abc",
            "t.me/+",
            "t.me/+a b",
            "tg://resolve?domain=abc",
            &format!("t.me/+{}", "a".repeat(300)),
        ] {
            assert!(invite_hash(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn usernames_come_with_or_without_at_or_as_links() {
        for text in [
            "@sandbox_lounge",
            "sandbox_lounge",
            "https://t.me/sandbox_lounge",
        ] {
            assert_eq!(username(text), Ok("sandbox_lounge".to_owned()), "{text}");
        }
        for bad in [
            "",
            "@abc",
            "t.me/+hash",
            "1lounge",
            "lounge!",
            &"a".repeat(33),
        ] {
            assert!(username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn exactly_one_target_is_taken() {
        assert!(join_target(None, None).is_err());
        assert!(join_target(Some("@sandbox_lounge"), Some("t.me/+abc")).is_err());
        assert_eq!(
            join_target(None, Some("t.me/+abc")),
            Ok(JoinTarget::InviteHash("abc".into()))
        );
    }

    #[test]
    fn link_settings_stay_within_telegrams_limits() {
        let now = 1_800_000_000;
        assert!(invite_settings(Some(now + 60), Some(5), Some("Team".into()), false, now).is_ok());
        assert!(invite_settings(Some(now), None, None, false, now).is_err());
        assert!(invite_settings(None, Some(0), None, false, now).is_err());
        assert!(invite_settings(None, Some(100_000), None, false, now).is_err());
        assert!(invite_settings(None, Some(3), None, true, now).is_err());
        assert!(invite_settings(None, None, Some("t".repeat(33)), false, now).is_err());
        assert_eq!(
            invite_settings(None, None, Some("  ".into()), false, now).map(|s| s.title),
            Ok(None)
        );
    }

    #[test]
    fn a_change_to_a_link_is_a_revocation_or_some_settings_never_both_nor_neither() {
        let now = 1_800_000_000;
        let link = "https://t.me/+AbC_d-9";
        let revoked = invite_edit(link, true, None, None, None, None, now).expect("revokes");
        assert!(revoked.revoke);
        assert_eq!(revoked.hash, "AbC_d-9");
        assert!(invite_edit(link, true, None, Some(3), None, None, now).is_err());
        assert!(invite_edit(link, false, None, None, None, None, now).is_err());
        let cleared = invite_edit(link, false, Some(0), Some(0), Some(" ".into()), None, now)
            .expect("clears");
        assert_eq!(
            (cleared.expire_date, cleared.usage_limit, cleared.title),
            (Some(0), Some(0), Some(String::new()))
        );
        assert!(invite_edit(link, false, Some(now - 1), None, None, None, now).is_err());
        assert!(invite_edit(link, false, None, Some(100_000), None, None, now).is_err());
        assert!(invite_edit(link, false, None, Some(2), None, Some(true), now).is_err());
        assert!(invite_edit("t.me/x", false, None, Some(2), None, None, now).is_err());
    }

    #[test]
    fn pages_and_cursors_are_checked() {
        assert_eq!(page_limit(0), Ok(50));
        assert_eq!(page_limit(100), Ok(100));
        assert!(page_limit(101).is_err());
        let cursor = invite_cursor_after(17, "https://t.me/+AbC");
        assert_eq!(invite_cursor(&cursor), Ok((17, "AbC".to_owned())));
        for bad in ["", "17", "x:AbC", "17:a b", &"1".repeat(200)] {
            assert!(invite_cursor(bad).is_err(), "{bad:?}");
        }
        assert_eq!(request_cursor("17:42"), Ok((17, 42)));
        assert!(request_cursor("17:-1").is_err());
        assert_eq!(requester(" 42 "), Ok(42));
        assert!(requester("@bob").is_err());
    }
}
