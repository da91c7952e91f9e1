-- 0002: hxchat's own sign-ins (-auth oidc), kept here so that every
-- replica knows them and a restart keeps people signed in: the flows on
-- their way through the provider (a callback may reach another replica than
-- the one that sent the browser away) and the sessions of people signed in.
-- Keys are the SHA-256 (hex) of the state or the session id, never the
-- value a browser holds.

CREATE TABLE signin_flows (
    key      text        NOT NULL PRIMARY KEY,
    nonce    text        NOT NULL,
    verifier text        NOT NULL,
    next     text        NOT NULL,
    expires  timestamptz NOT NULL
);

CREATE INDEX signin_flows_expires ON signin_flows (expires);

CREATE TABLE signin_sessions (
    key      text        NOT NULL PRIMARY KEY,
    source   text        NOT NULL,
    subject  text        NOT NULL,
    email    text        NOT NULL,
    name     text        NOT NULL,
    admin    boolean     NOT NULL,
    id_token text        NOT NULL,
    expires  timestamptz NOT NULL
);

CREATE INDEX signin_sessions_expires ON signin_sessions (expires);
