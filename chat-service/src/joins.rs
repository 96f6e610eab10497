//! Joining chats and invite links: the requests as the domain takes them, checked here
//! whichever transport brought them (a username in its three spellings, an invite link
//! in its three, a link's settings within Telegram's limits).

use talkapp_telegram::joins::{InviteSettings, JoinTarget};

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
    let expire_date = match expire_date {
        None => None,
        Some(date) if date <= now => {
            return Err("expire_date must be in the future (Unix seconds)".into());
        }
        Some(date) if date > now + MAX_EXPIRY_SECS => {
            return Err("expire_date is too far in the future".into());
        }
        Some(date) => Some(i32::try_from(date).map_err(|_| "expire_date is out of range")?),
    };
    if usage_limit.is_some_and(|limit| !(1..=MAX_USAGE_LIMIT).contains(&limit)) {
        return Err(format!("usage_limit must be 1 to {MAX_USAGE_LIMIT}"));
    }
    if request_needed && usage_limit.is_some() {
        // Telegram's rule: a link that needs approval has no usage limit.
        return Err("a link with request_needed takes no usage_limit".into());
    }
    let title = match title {
        Some(title) => {
            let title = title.trim().to_owned();
            if title.chars().count() > MAX_INVITE_TITLE_CHARS || title.chars().any(char::is_control)
            {
                return Err(format!(
                    "title must be at most {MAX_INVITE_TITLE_CHARS} characters on one line"
                ));
            }
            (!title.is_empty()).then_some(title)
        }
        None => None,
    };
    Ok(InviteSettings {
        expire_date,
        usage_limit,
        title,
        request_needed,
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
}
