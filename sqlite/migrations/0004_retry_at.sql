-- 0004: what a failed answer says after a reload.
--
-- retry_at: for an answer refused because the model service was busy, when
-- the service said it may be asked again (UTC unix milliseconds; 0: it did
-- not say). request_id: the id of the request that started the answer, as
-- the log shows it, for an administrator ('' for answers before this).

ALTER TABLE messages ADD COLUMN retry_at   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN request_id TEXT    NOT NULL DEFAULT '';
