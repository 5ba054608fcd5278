-- Events and merchant webhooks (issue 19). Every money movement, settlement change and card status
-- move writes one row of `events` in the transaction of its effect (an outbox: a rolled-back
-- movement leaves no event). A merchant's webhook endpoints subscribe to event types; each event of
-- the merchant gets one delivery row per subscribed endpoint, written with the event, which the
-- delivery worker of any replica claims with FOR UPDATE SKIP LOCKED. Schema only: the functions
-- live in sql/functions/events.sql and sql/functions/webhooks.sql.

CREATE TABLE events (
    -- Stable: the `id` of the JSON body and the `MPS-Event-Id` header of every delivery of it.
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    type        text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    -- The merchant the event belongs to; NULL for programme events (a card frozen, an admin credit).
    merchant_id uuid REFERENCES merchants (id),
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_merchant_created_idx ON events (merchant_id, created_at);
CREATE INDEX events_created_idx ON events USING brin (created_at);

CREATE TYPE webhook_endpoint_status AS ENUM ('active', 'disabled');

CREATE TABLE webhook_endpoints (
    id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    merchant_id                uuid NOT NULL REFERENCES merchants (id),
    url                        text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    event_types                text[] NOT NULL CHECK (cardinality(event_types) >= 1),
    -- The signing secret, encrypted (ChaCha20-Poly1305 under WEBHOOK_SECRET_KEY): nonce ‖ ciphertext.
    secret_sealed              bytea NOT NULL,
    -- After a rotation the previous secret still signs until `previous_secret_expires_at`.
    previous_secret_sealed     bytea,
    previous_secret_expires_at timestamptz,
    status                     webhook_endpoint_status NOT NULL DEFAULT 'active',
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL))
);
CREATE INDEX webhook_endpoints_merchant_idx ON webhook_endpoints (merchant_id, created_at);

CREATE TYPE webhook_delivery_status AS ENUM ('pending', 'delivered', 'failed');

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id         uuid NOT NULL REFERENCES events (id),
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id),
    status           webhook_delivery_status NOT NULL DEFAULT 'pending',
    attempts         int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When a worker may next try it; a claim moves it past the attempt's timeout (a lease), so a
    -- worker that dies mid-attempt leaves it to be tried again.
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    last_status_code int,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
