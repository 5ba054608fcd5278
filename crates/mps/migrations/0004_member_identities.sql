-- Self sign-up (issue 17): phone verification codes, WeChat link tokens, and the union id of an
-- external identity. Schema only: the functions that issue and check codes, use link tokens and
-- unlink identities live in sql/functions/identity.sql.

ALTER TABLE member_identities ADD COLUMN union_id text CHECK (length(union_id) BETWEEN 1 AND 128);
ALTER TABLE member_identities ADD COLUMN last_used_at timestamptz;

CREATE TABLE phone_codes (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    phone      text NOT NULL CHECK (phone ~ '^\+?[0-9]{5,20}$'),
    purpose    text NOT NULL CHECK (purpose IN ('register', 'login', 'reset')),
    -- HMAC-SHA256 of phone, purpose and code under a server key: never the code itself.
    code_hash  text NOT NULL,
    attempts   int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- Set when the code is used or a newer code for the same phone and purpose replaces it.
    ended_at   timestamptz,
    end_reason text CHECK (end_reason IN ('used', 'superseded')),
    client_ip  inet,
    CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
-- At most one live code per phone and purpose.
CREATE UNIQUE INDEX phone_codes_live_key ON phone_codes (phone, purpose) WHERE ended_at IS NULL;
CREATE INDEX phone_codes_phone_created_idx ON phone_codes (phone, created_at);

CREATE TABLE identity_link_tokens (
    token_hash  text PRIMARY KEY,
    provider    text NOT NULL CHECK (provider ~ '^[a-z0-9_]{1,32}$'),
    external_id text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 128),
    union_id    text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX identity_link_tokens_expires_idx ON identity_link_tokens (expires_at);
