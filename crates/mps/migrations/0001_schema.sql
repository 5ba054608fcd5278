-- The complete MPS schema: every entity of SPEC §1, with the constraints that make bad states
-- impossible. Rules that move money live in SQL functions: crates/mps/sql/functions/.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TYPE member_status AS ENUM ('active', 'inactive', 'suspended', 'deleted');
CREATE TYPE merchant_status AS ENUM ('active', 'suspended');
CREATE TYPE card_type AS ENUM ('standard', 'voucher', 'corporate');
CREATE TYPE card_status AS ENUM ('active', 'inactive', 'lost', 'expired', 'closed');
CREATE TYPE binding_role AS ENUM ('owner', 'admin', 'member', 'viewer');
CREATE TYPE tx_type AS ENUM ('payment', 'refund', 'recharge');
CREATE TYPE tx_status AS ENUM ('processing', 'completed', 'failed', 'cancelled', 'refunded');
CREATE TYPE payment_method AS ENUM ('balance', 'cash', 'wechat', 'alipay', 'bank', 'manual');
CREATE TYPE settlement_mode AS ENUM ('realtime', 't_plus_1', 'monthly');
CREATE TYPE settlement_status AS ENUM ('pending', 'settled', 'paid', 'failed');
-- `system` acts for the payment webhook; `anonymous` for failed logins of unknown accounts.
CREATE TYPE actor_role AS ENUM ('member', 'merchant', 'admin', 'system', 'anonymous');
CREATE TYPE qr_end_reason AS ENUM ('used', 'revoked', 'superseded', 'revoked_all');
CREATE TYPE point_reason AS ENUM ('payment', 'refund_reverse', 'admin_adjust');

-- Business numbers: one sequence per family, formatted with a minimum width that grows instead
-- of wrapping (lpad alone would truncate a longer number).
CREATE SEQUENCE member_no_seq AS bigint NO CYCLE;
CREATE SEQUENCE card_no_seq AS bigint NO CYCLE;
CREATE SEQUENCE tx_no_seq AS bigint NO CYCLE;
CREATE SEQUENCE settlement_no_seq AS bigint NO CYCLE;

-- The formatter lives here, not in sql/functions/, because column defaults below call it; plpgsql
-- rather than LANGUAGE sql so that its plan is cached per connection (sql/README.md).
CREATE FUNCTION business_number(prefix text, n bigint, min_width int) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN prefix || CASE WHEN length(n::text) >= min_width THEN n::text ELSE lpad(n::text, min_width, '0') END;
END $$;

CREATE TABLE members (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    member_no     text NOT NULL UNIQUE
                  DEFAULT business_number('M', nextval('member_no_seq'), 8)
                  CHECK (member_no ~ '^M[0-9]{8,}$'),
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    phone         text CHECK (phone ~ '^\+?[0-9]{5,20}$'),
    email         text CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 254),
    status        member_status NOT NULL DEFAULT 'active',
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX members_phone_key ON members (phone);
CREATE UNIQUE INDEX members_email_key ON members (lower(email));
CREATE INDEX members_created_at_idx ON members (created_at);
CREATE INDEX members_status_idx ON members (status);

CREATE TABLE member_identities (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    member_id   uuid NOT NULL REFERENCES members (id),
    provider    text NOT NULL CHECK (provider ~ '^[a-z0-9_]{1,32}$'),
    external_id text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 128),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT member_identities_provider_external_key UNIQUE (provider, external_id)
);
CREATE INDEX member_identities_member_idx ON member_identities (member_id);

CREATE TABLE membership_levels (
    level      int PRIMARY KEY CHECK (level >= 0),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    min_points bigint NOT NULL CHECK (min_points >= 0),
    max_points bigint CHECK (max_points IS NULL OR max_points >= min_points),
    discount   numeric(4, 3) NOT NULL CHECK (discount > 0 AND discount <= 1),
    active     boolean NOT NULL DEFAULT true,
    -- Ranges of active levels never overlap; gaps are checked by the function that replaces the table.
    CONSTRAINT membership_levels_no_overlap EXCLUDE USING gist (
        int8range(min_points, max_points, '[]') WITH &&
    ) WHERE (active)
);
INSERT INTO membership_levels (level, name, min_points, max_points, discount) VALUES
    (0, 'Regular', 0, 999, 1.000),
    (1, 'Silver', 1000, 4999, 0.950),
    (2, 'Gold', 5000, 9999, 0.900),
    (3, 'Diamond', 10000, NULL, 0.850);

CREATE TABLE cards (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    card_no               text NOT NULL UNIQUE,
    card_type             card_type NOT NULL,
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    balance               numeric(12, 2) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    points                bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
    level                 int NOT NULL DEFAULT 0,
    level_discount        numeric(4, 3) NOT NULL DEFAULT 1.000
                          CHECK (level_discount > 0 AND level_discount <= 1),
    fixed_discount        numeric(3, 2) CHECK (fixed_discount BETWEEN 0.01 AND 1.00),
    binding_password_hash text,
    status                card_status NOT NULL DEFAULT 'active',
    expires_at            timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cards_card_no_format CHECK (
        card_no ~ ('^' || CASE card_type WHEN 'standard' THEN 'STD'
                                         WHEN 'voucher' THEN 'VCH'
                                         ELSE 'COR' END || '[0-9]{8,}$')),
    -- Only standard cards earn points and levels; only corporate cards carry a fixed discount
    -- or a binding password.
    CONSTRAINT cards_points_standard_only CHECK (card_type = 'standard' OR (points = 0 AND level = 0)),
    CONSTRAINT cards_corporate_fields CHECK (
        card_type = 'corporate' OR (fixed_discount IS NULL AND binding_password_hash IS NULL)),
    CONSTRAINT cards_closed_empty CHECK (status <> 'closed' OR balance = 0)
);
CREATE INDEX cards_type_status_idx ON cards (card_type, status);
CREATE INDEX cards_created_at_idx ON cards (created_at);

CREATE TABLE card_bindings (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    card_id    uuid NOT NULL REFERENCES cards (id),
    member_id  uuid NOT NULL REFERENCES members (id),
    role       binding_role NOT NULL,
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    ended_at   timestamptz,
    CONSTRAINT card_bindings_ended CHECK (active = (ended_at IS NULL))
);
-- A member holds at most one live binding per card; ended bindings stay as history.
CREATE UNIQUE INDEX card_bindings_live_key ON card_bindings (card_id, member_id) WHERE active;
CREATE INDEX card_bindings_member_idx ON card_bindings (member_id) WHERE active;

CREATE TABLE merchants (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code          text NOT NULL CHECK (code ~ '^[A-Za-z0-9]{3,20}$'),
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    contact       text CHECK (length(contact) <= 200),
    status        merchant_status NOT NULL DEFAULT 'active',
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Codes are compared without regard to case, so `SHOP1` and `shop1` cannot both exist.
CREATE UNIQUE INDEX merchants_code_key ON merchants (upper(code));
CREATE INDEX merchants_created_at_idx ON merchants (created_at);

CREATE TABLE admins (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 254),
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    password_hash text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX admins_email_key ON admins (lower(email));

CREATE TABLE sessions (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    role           actor_role NOT NULL CHECK (role IN ('member', 'merchant', 'admin')),
    subject_id     uuid NOT NULL,
    operator       text CHECK (length(operator) <= 64),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text,
    client_ip      inet
);
CREATE INDEX sessions_subject_live_idx ON sessions (subject_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_live_expiry_idx ON sessions (role, expires_at) WHERE revoked_at IS NULL;

-- Revocations that could not be pushed to Redis (it was down). Every instance flushes them as soon
-- as Redis answers again, so a cached "live" marker never outlives its session's revocation.
CREATE TABLE session_cache_invalidations (
    session_id uuid PRIMARY KEY REFERENCES sessions (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- QR state: at most one live token per card (the primary key), found by the SHA-256 of its plain
-- text in O(1). Claiming deletes the row, so a token can be used once; rolling back restores it.
CREATE TABLE qr_tokens (
    card_id    uuid PRIMARY KEY REFERENCES cards (id),
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    member_id  uuid NOT NULL REFERENCES members (id),
    issue_id   bigint NOT NULL,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL CHECK (expires_at > issued_at)
);
CREATE INDEX qr_tokens_expires_idx ON qr_tokens (expires_at);

-- QR history: every issue, and how it ended. Never holds the token or its hash.
CREATE TABLE qr_issues (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    card_id    uuid NOT NULL REFERENCES cards (id),
    member_id  uuid NOT NULL REFERENCES members (id),
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    ended_at   timestamptz,
    end_reason qr_end_reason,
    tx_id      uuid,
    CONSTRAINT qr_issues_end CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
CREATE INDEX qr_issues_card_idx ON qr_issues (card_id, issued_at DESC);
CREATE INDEX qr_issues_issued_at_idx ON qr_issues (issued_at);

CREATE TABLE transactions (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tx_no             text NOT NULL UNIQUE,
    tx_type           tx_type NOT NULL,
    card_id           uuid NOT NULL REFERENCES cards (id),
    merchant_id       uuid REFERENCES merchants (id),
    operator          text CHECK (length(operator) <= 64),
    raw_amount        numeric(12, 2) NOT NULL CHECK (raw_amount > 0),
    discount_applied  numeric(4, 3) NOT NULL DEFAULT 1.000
                      CHECK (discount_applied > 0 AND discount_applied <= 1),
    final_amount      numeric(12, 2) NOT NULL CHECK (final_amount > 0),
    points_earned     bigint NOT NULL DEFAULT 0 CHECK (points_earned >= 0),
    status            tx_status NOT NULL,
    payment_method    payment_method NOT NULL,
    original_tx_id    uuid REFERENCES transactions (id),
    -- Running totals on a payment, maintained by refunds under a lock on this row.
    refunded_total    numeric(12, 2) NOT NULL DEFAULT 0 CHECK (refunded_total >= 0),
    points_reversed   bigint NOT NULL DEFAULT 0 CHECK (points_reversed >= 0),
    idempotency_key   text,
    external_order_id text CHECK (length(external_order_id) BETWEEN 1 AND 128),
    channel_ref       text,
    reason            text,
    tag               jsonb,
    actor_id          uuid,
    actor_role        actor_role NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transactions_tx_no_format CHECK (
        tx_no ~ ('^' || CASE tx_type WHEN 'payment' THEN 'PAY'
                                     WHEN 'refund' THEN 'REF'
                                     ELSE 'RCG' END || '[0-9]{10,}$')),
    CONSTRAINT transactions_refund_has_original CHECK ((tx_type = 'refund') = (original_tx_id IS NOT NULL)),
    CONSTRAINT transactions_merchant_side CHECK (tx_type = 'recharge' OR merchant_id IS NOT NULL),
    CONSTRAINT transactions_refund_cap CHECK (refunded_total <= final_amount),
    CONSTRAINT transactions_totals_on_payments CHECK (
        tx_type = 'payment' OR (refunded_total = 0 AND points_reversed = 0)),
    CONSTRAINT transactions_points_reversal_cap CHECK (points_reversed <= points_earned),
    CONSTRAINT transactions_final_not_above_raw CHECK (final_amount <= raw_amount),
    CONSTRAINT transactions_method CHECK (tx_type = 'recharge' OR payment_method = 'balance')
);
CREATE INDEX transactions_card_created_idx ON transactions (card_id, created_at DESC);
CREATE INDEX transactions_merchant_created_idx ON transactions (merchant_id, created_at DESC)
    WHERE merchant_id IS NOT NULL;
CREATE INDEX transactions_original_idx ON transactions (original_tx_id) WHERE original_tx_id IS NOT NULL;
CREATE INDEX transactions_created_idx ON transactions (created_at);

-- A merchant's external order id is charged at most once.
CREATE TABLE merchant_orders (
    merchant_id       uuid NOT NULL REFERENCES merchants (id),
    external_order_id text NOT NULL,
    tx_id             uuid NOT NULL REFERENCES transactions (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, external_order_id)
);

CREATE TABLE point_ledger (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    card_id       uuid NOT NULL REFERENCES cards (id),
    tx_id         uuid REFERENCES transactions (id),
    delta         bigint NOT NULL CHECK (delta <> 0),
    points_after  bigint NOT NULL CHECK (points_after >= 0),
    reason        point_reason NOT NULL,
    note          text,
    actor_id      uuid,
    actor_role    actor_role NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX point_ledger_card_idx ON point_ledger (card_id, created_at DESC);

-- Idempotency records live in the same transaction as the effect they protect; a concurrent
-- duplicate blocks on the primary key until the first commits, then replays its outcome.
CREATE TABLE idempotency_keys (
    actor_id      uuid NOT NULL,
    operation     text NOT NULL,
    key           text NOT NULL CHECK (key ~ '^[\x21-\x7e]{1,255}$'),
    fingerprint   bytea NOT NULL,
    outcome       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor_id, operation, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

CREATE TABLE settlements (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    settlement_no  text NOT NULL UNIQUE
                   DEFAULT business_number('STL', nextval('settlement_no_seq'), 10)
                   CHECK (settlement_no ~ '^STL[0-9]{10,}$'),
    merchant_id    uuid NOT NULL REFERENCES merchants (id),
    mode           settlement_mode NOT NULL,
    period_start   timestamptz NOT NULL,
    period_end     timestamptz NOT NULL CHECK (period_end > period_start),
    payment_count  bigint NOT NULL CHECK (payment_count >= 0),
    payment_amount numeric(14, 2) NOT NULL CHECK (payment_amount >= 0),
    refund_count   bigint NOT NULL CHECK (refund_count >= 0),
    refund_amount  numeric(14, 2) NOT NULL CHECK (refund_amount >= 0),
    topup_count    bigint NOT NULL CHECK (topup_count >= 0),
    topup_amount   numeric(14, 2) NOT NULL CHECK (topup_amount >= 0),
    net_amount     numeric(14, 2) NOT NULL,
    status         settlement_status NOT NULL DEFAULT 'pending',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT settlements_net CHECK (net_amount = payment_amount - refund_amount - topup_amount),
    -- Every transaction is settled at most once, even when two requests race.
    CONSTRAINT settlements_no_overlap EXCLUDE USING gist (
        merchant_id WITH =, tstzrange(period_start, period_end, '[)') WITH &&)
);
CREATE INDEX settlements_merchant_created_idx ON settlements (merchant_id, created_at DESC);

CREATE TABLE audit_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid,
    actor_role  actor_role NOT NULL,
    action      text NOT NULL CHECK (action ~ '^[A-Z][A-Z_]*$'),
    object_type text,
    object_id   text,
    context     jsonb NOT NULL DEFAULT '{}',
    request_id  text
);
CREATE INDEX audit_events_time_idx ON audit_events (occurred_at DESC);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, occurred_at DESC);
CREATE INDEX audit_events_action_idx ON audit_events (action, occurred_at DESC);
CREATE INDEX audit_events_object_idx ON audit_events (object_type, object_id, occurred_at DESC);

-- The trigger's function lives here with its trigger (the schema cannot be created without it).
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
