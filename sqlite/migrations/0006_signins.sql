-- 0006: hxchat's own sign-ins (-auth oidc), kept here so that a restart
-- keeps people signed in: the flows on their way through the provider and
-- the sessions of people signed in. Keys are the SHA-256 (hex) of the state
-- or the session id, never the value a browser holds. Times are UTC unix
-- milliseconds.

CREATE TABLE signin_flows (
    key      TEXT    NOT NULL PRIMARY KEY,
    nonce    TEXT    NOT NULL,
    verifier TEXT    NOT NULL,
    next     TEXT    NOT NULL,
    expires  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX signin_flows_expires ON signin_flows (expires);

CREATE TABLE signin_sessions (
    key        TEXT    NOT NULL PRIMARY KEY,
    source     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    email      TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    admin      INTEGER NOT NULL,
    id_token   TEXT    NOT NULL,
    expires    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX signin_sessions_expires ON signin_sessions (expires);
