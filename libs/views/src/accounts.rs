//! A linked account in chat.v1's shape (`LinkedAccount`): the session list's entry,
//! which the gateway reads from the store itself (ADR 0072), and the account a finished
//! login answers, which the chat service sends.

use chrono::SecondsFormat;
use talkapp_proto::chat::v1 as proto;
use talkapp_store::{CachedUser, LinkStatus, LinkedAccount, ListedLinkedAccount};

use crate::{filled, photo_ref, user_from_record};

/// A linked account as the session list shows it: with its profile photo when its
/// host has cached the account's own user.
pub fn listed_account(listed: ListedLinkedAccount) -> proto::LinkedAccount {
    linked_account(listed.linked, listed.own_user.as_ref())
}

/// A linked account; `own_user` is the account's own Telegram user from its chat cache
/// (for its photo), `None` when not cached yet.
pub fn linked_account(
    linked: LinkedAccount,
    own_user: Option<&CachedUser>,
) -> proto::LinkedAccount {
    let telegram_user_id = linked.account.telegram_user_id;
    let photo = own_user.and_then(|record| user_from_record(record).photo);
    proto::LinkedAccount {
        session_index: linked.session_index,
        telegram_user: Some(proto::TelegramUser {
            id: telegram_user_id.to_string(),
            first_name: linked.account.first_name,
            last_name: filled(linked.account.last_name),
            username: filled(linked.account.username),
            phone: filled(linked.account.phone),
            photo_id: photo.map(|photo| photo_ref(telegram_user_id, photo.photo_id)),
        }),
        status: link_status(linked.status).into(),
        linked_at: linked
            .linked_at
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        link_stalled_at: linked
            .link_stalled_at
            .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)),
    }
}

/// A link's state on the wire.
pub fn link_status(status: LinkStatus) -> proto::LinkStatus {
    match status {
        LinkStatus::Connected => proto::LinkStatus::Connected,
        LinkStatus::Connecting => proto::LinkStatus::Connecting,
        LinkStatus::LoggedOut => proto::LinkStatus::LoggedOut,
        LinkStatus::FloodWait => proto::LinkStatus::FloodWait,
    }
}
