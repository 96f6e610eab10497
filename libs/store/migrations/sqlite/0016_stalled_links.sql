-- When an account's Telegram link was last found open but delivering no updates, and
-- replaced (shown by GET /me/sessions).
ALTER TABLE telegram_sessions ADD COLUMN link_stalled_at INTEGER;
