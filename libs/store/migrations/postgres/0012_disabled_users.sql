-- An operator can disable a built-in account: it cannot sign in, its sessions are ended.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
