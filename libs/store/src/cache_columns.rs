//! The columns of the chat cache's tables, in the order both stores' row readers take them.
//! Statements name these instead of `*`, and rows are read by position: a read by name
//! scans the statement's columns (through SQLite's C API, for each) for every field of
//! every row, and a chat list page read ~2,000 names that way. The joined chat-list read
//! ([`crate::ChatCacheStore::chat_list_page`]) puts several tables side by side, each at a
//! known offset.
//!
//! Each macro expands to a string literal (for `concat!` in statement texts), its columns
//! qualified with the given prefix (`""` or `"m."`).

/// The columns a [`crate::CachedChat`] is read from.
macro_rules! chat_columns {
    ($p:literal) => {
        concat!(
            $p,
            "chat_id, ",
            $p,
            "kind, ",
            $p,
            "title, ",
            $p,
            "username, ",
            $p,
            "photo, ",
            $p,
            "members_count, ",
            $p,
            "is_creator, ",
            $p,
            "is_admin, ",
            $p,
            "has_left, ",
            $p,
            "in_dialogs, ",
            $p,
            "unread_count, ",
            $p,
            "read_inbox_max_id, ",
            $p,
            "read_outbox_max_id, ",
            $p,
            "top_message_id, ",
            $p,
            "top_date, ",
            $p,
            "pinned, ",
            $p,
            "archived, ",
            $p,
            "muted_until, ",
            $p,
            "history_floor, ",
            $p,
            "history_complete"
        )
    };
}

/// The columns a [`crate::CachedMessage`] is read from.
macro_rules! message_columns {
    ($p:literal) => {
        concat!(
            $p,
            "chat_id, ",
            $p,
            "message_id, ",
            $p,
            "date, ",
            $p,
            "edit_date, ",
            $p,
            "sender_id, ",
            $p,
            "outgoing, ",
            $p,
            "text, ",
            $p,
            "reply_to, ",
            $p,
            "views, ",
            $p,
            "service, ",
            $p,
            "details"
        )
    };
}

/// The columns a [`crate::CachedUser`] is read from.
macro_rules! user_columns {
    ($p:literal) => {
        concat!(
            $p,
            "tg_user_id, ",
            $p,
            "first_name, ",
            $p,
            "last_name, ",
            $p,
            "username, ",
            $p,
            "phone, ",
            $p,
            "details"
        )
    };
}

/// The conditions of a chat-list page on `tg_chats` (parameters: the account, kind,
/// archived, the previous page's last `(top_date, chat_id)`), shared by both reads of it,
/// in each store's placeholder syntax.
macro_rules! chat_list_filter {
    (sqlite) => {
        "user_id = ?1 AND session_index = ?2 AND in_dialogs AND NOT has_left
         AND (?3 IS NULL OR kind = ?3)
         AND (?4 IS NULL OR archived = ?4)
         AND (?5 IS NULL OR (top_date, chat_id) < (?5, ?6))"
    };
    (postgres) => {
        "user_id = $1 AND session_index = $2 AND in_dialogs AND NOT has_left
         AND ($3::text IS NULL OR kind = $3)
         AND ($4::boolean IS NULL OR archived = $4)
         AND ($5::bigint IS NULL OR (top_date, chat_id) < ($5, $6))"
    };
}

/// The conditions of a history page on `tg_messages` (parameters: the account, the chat,
/// `before_id`, `after_id`, `from_date`, `to_date`), shared by both reads of it, in each
/// store's placeholder syntax.
macro_rules! history_filter {
    (sqlite) => {
        "user_id = ?1 AND session_index = ?2 AND chat_id = ?3
         AND (?4 IS NULL OR message_id < ?4) AND (?5 IS NULL OR message_id > ?5)
         AND (?6 IS NULL OR date >= ?6) AND (?7 IS NULL OR date < ?7)"
    };
    (postgres) => {
        "user_id = $1 AND session_index = $2 AND chat_id = $3
         AND ($4::integer IS NULL OR message_id < $4)
         AND ($5::integer IS NULL OR message_id > $5)
         AND ($6::bigint IS NULL OR date >= $6)
         AND ($7::bigint IS NULL OR date < $7)"
    };
}

/// The columns of `telegram_sessions` a [`crate::LinkedAccount`] is read from (by name,
/// so these come first in a joined read: a name is found at its first column).
macro_rules! linked_account_columns {
    ($p:literal) => {
        concat!(
            $p,
            "user_id, ",
            $p,
            "session_index, ",
            $p,
            "telegram_user_id, ",
            $p,
            "first_name, ",
            $p,
            "last_name, ",
            $p,
            "username, ",
            $p,
            "phone, ",
            $p,
            "status, ",
            $p,
            "linked_at, ",
            $p,
            "link_stalled_at"
        )
    };
}

pub(crate) use {
    chat_columns, chat_list_filter, history_filter, linked_account_columns, message_columns,
    user_columns,
};

/// How many columns [`chat_columns`] names.
pub(crate) const CHAT_WIDTH: usize = 20;
/// How many columns [`message_columns`] names.
pub(crate) const MESSAGE_WIDTH: usize = 11;
/// How many columns [`user_columns`] names.
pub(crate) const USER_WIDTH: usize = 6;
/// How many columns [`linked_account_columns`] names.
pub(crate) const LINKED_ACCOUNT_WIDTH: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_list_is_as_wide_as_its_reader_takes_and_prefixes_every_column() {
        assert_eq!(chat_columns!("").split(", ").count(), CHAT_WIDTH);
        assert_eq!(message_columns!("").split(", ").count(), MESSAGE_WIDTH);
        assert_eq!(user_columns!("").split(", ").count(), USER_WIDTH);
        assert_eq!(
            linked_account_columns!("").split(", ").count(),
            LINKED_ACCOUNT_WIDTH
        );
        assert!(
            message_columns!("m.")
                .split(", ")
                .all(|column| column.starts_with("m.") && !column[2..].contains('.'))
        );
    }
}
