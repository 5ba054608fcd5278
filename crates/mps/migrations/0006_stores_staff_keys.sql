-- Issue 18 — merchants as they are: stores, staff with roles, and scoped keys for POS terminals.
-- A merchant has stores (every merchant transaction records one), staff accounts with a role
-- (owner | manager | cashier) who log in under the merchant's code, and API keys a till uses,
-- scoped to one store and a set of permissions. Decisions: docs/decisions.md ("Issue 18").

CREATE TYPE staff_role AS ENUM ('owner', 'manager', 'cashier');
CREATE TYPE staff_status AS ENUM ('active', 'suspended');
CREATE TYPE store_status AS ENUM ('active', 'closed');

CREATE TABLE stores (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    merchant_id uuid NOT NULL REFERENCES merchants (id),
    code        text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,20}$'),
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    address     text CHECK (length(address) <= 300),
    -- An IANA zone overriding BUSINESS_TIMEZONE for this store's days (a cashier's "same day").
    time_zone   text CHECK (length(time_zone) BETWEEN 1 AND 64),
    status      store_status NOT NULL DEFAULT 'active',
    -- The store a transaction records when its request names none; one per merchant.
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- The target of (store_id, merchant_id) foreign keys: a row can only name its merchant's store.
    CONSTRAINT stores_id_merchant_key UNIQUE (id, merchant_id)
);
CREATE UNIQUE INDEX stores_code_key ON stores (merchant_id, upper(code));
CREATE UNIQUE INDEX stores_one_default_key ON stores (merchant_id) WHERE is_default;

-- Every existing merchant gets its default store; new merchants get theirs from the trigger below.
INSERT INTO stores (merchant_id, code, name, is_default) SELECT id, 'MAIN', name, true FROM merchants;

-- Schema-level: the trigger needs it while the schema is created (migrations/README.md).
CREATE FUNCTION merchant_default_store() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO stores (merchant_id, code, name, is_default) VALUES (NEW.id, 'MAIN', NEW.name, true);
    RETURN NEW;
END $$;
CREATE TRIGGER merchants_default_store AFTER INSERT ON merchants
    FOR EACH ROW EXECUTE FUNCTION merchant_default_store();

CREATE TABLE staff (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    merchant_id   uuid NOT NULL REFERENCES merchants (id),
    username      text NOT NULL CHECK (username ~ '^[A-Za-z0-9._-]{1,40}$'),
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 64),
    role          staff_role NOT NULL,
    -- A staff member restricted to one store acts only as that store.
    store_id      uuid,
    status        staff_status NOT NULL DEFAULT 'active',
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT staff_id_merchant_key UNIQUE (id, merchant_id),
    CONSTRAINT staff_store_fkey FOREIGN KEY (store_id, merchant_id) REFERENCES stores (id, merchant_id)
);
CREATE UNIQUE INDEX staff_username_key ON staff (merchant_id, lower(username));

-- What a cashier (and a POS key) may refund in one refund; managers and owners have no limit.
-- 0.00 until the owner sets it: cashiers cannot refund before the owner decides how much.
ALTER TABLE merchants ADD COLUMN cashier_refund_limit numeric(12, 2) NOT NULL DEFAULT 0
    CHECK (cashier_refund_limit >= 0);

-- A staff member's sessions: subject_id stays the merchant, staff_id says who.
ALTER TABLE sessions ADD COLUMN staff_id uuid REFERENCES staff (id);
CREATE INDEX sessions_staff_live_idx ON sessions (staff_id) WHERE revoked_at IS NULL AND staff_id IS NOT NULL;

-- Who did it, where: every merchant transaction records its store; charges and refunds their
-- staff member (NULL: the merchant's own credentials, or a POS key, or a row written earlier).
ALTER TABLE transactions ADD COLUMN store_id uuid, ADD COLUMN staff_id uuid, ADD COLUMN pos_key_id uuid;
UPDATE transactions t SET store_id = s.id FROM stores s WHERE s.merchant_id = t.merchant_id AND s.is_default;
ALTER TABLE transactions
    ADD CONSTRAINT transactions_store_fkey FOREIGN KEY (store_id, merchant_id) REFERENCES stores (id, merchant_id),
    ADD CONSTRAINT transactions_staff_fkey FOREIGN KEY (staff_id, merchant_id) REFERENCES staff (id, merchant_id),
    ADD CONSTRAINT transactions_store_present CHECK (merchant_id IS NULL OR store_id IS NOT NULL);

-- A merchant transaction written without a store (a refund, a counter top-up) records its
-- payment's store, or the merchant's default store. Charges name theirs, so the condition keeps
-- the function from running on the payment path.
CREATE FUNCTION transaction_default_store() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NEW.original_tx_id IS NOT NULL THEN
        SELECT store_id INTO NEW.store_id FROM transactions WHERE id = NEW.original_tx_id;
    END IF;
    IF NEW.store_id IS NULL THEN
        SELECT id INTO NEW.store_id FROM stores WHERE merchant_id = NEW.merchant_id AND is_default;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER transactions_default_store BEFORE INSERT ON transactions
    FOR EACH ROW WHEN (NEW.merchant_id IS NOT NULL AND NEW.store_id IS NULL)
    EXECUTE FUNCTION transaction_default_store();

-- POS API keys: `mps_pos_<prefix>_<secret>`. The prefix identifies the key; only the SHA-256 of
-- the whole key (32 random bytes of secret) is stored. A rotation keeps the prefix, replaces the
-- hash and keeps the previous one valid until `previous_valid_until`.
CREATE TABLE pos_keys (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    merchant_id          uuid NOT NULL REFERENCES merchants (id),
    store_id             uuid NOT NULL,
    prefix               text NOT NULL UNIQUE CHECK (prefix ~ '^[a-z0-9]{12}$'),
    name                 text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 64),
    permissions          text[] NOT NULL
                         CHECK (cardinality(permissions) >= 1 AND permissions <@ ARRAY['charge', 'refund', 'read']),
    terminal_id          text CHECK (length(terminal_id) BETWEEN 1 AND 64),
    secret_hash          bytea NOT NULL CHECK (length(secret_hash) = 32),
    previous_secret_hash bytea CHECK (length(previous_secret_hash) = 32),
    previous_valid_until timestamptz,
    expires_at           timestamptz,
    revoked_at           timestamptz,
    last_used_at         timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pos_keys_store_fkey FOREIGN KEY (store_id, merchant_id) REFERENCES stores (id, merchant_id)
);
CREATE INDEX pos_keys_merchant_idx ON pos_keys (merchant_id, created_at DESC);

-- The charge takes the store and staff member, the refund the staff member: new arguments are a
-- new signature, so the old ones go (sql/functions/payments.sql creates the new ones).
DROP FUNCTION IF EXISTS charge_by_qr(uuid, text, text, bytea, bytea, numeric, text, jsonb, text);
DROP FUNCTION IF EXISTS refund_payment(uuid, text, text, bytea, text, numeric, text, jsonb, text);
-- The daily summary is `store_daily_summary` (whole merchant with a NULL store); the old one goes.
DROP FUNCTION IF EXISTS merchant_daily_summary(uuid, timestamptz, timestamptz);
