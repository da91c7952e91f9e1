-- 0005: when a conversation itself last changed (a rename, its settings),
-- apart from updated_at, which a new message moves and which orders the
-- list (UTC unix milliseconds; 0: never).

ALTER TABLE conversations ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
