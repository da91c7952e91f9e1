-- 0002: the system prompt and model of each conversation.
--
-- ADD COLUMN keeps the table STRICT; NOT NULL needs the constant default,
-- which also gives every existing conversation an empty prompt and the
-- default model ('').

ALTER TABLE conversations ADD COLUMN system_prompt TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN model         TEXT NOT NULL DEFAULT '';
