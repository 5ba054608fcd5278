-- Issue 16, third pass: one QR table (and, at the end, issue 14 §3: one name per operation).
--
-- A token was two rows — its live state in `qr_tokens` and its history in `qr_issues` — so
-- issuing one wrote two rows (and four index entries) and using one deleted a row and updated
-- another. Now the history row is the token: `qr_issues` gains the
-- token's hash while the issue is live, and ending the issue (used, revoked, superseded,
-- revoked_all) clears the hash in the same update. One write on issue, one on use.
--
-- SPEC §2 holds as before: only the SHA-256 of a token is stored, behind a unique index (now
-- partial, live issues only, so it stays the size of the live tokens); one live token per card
-- (a partial unique index on the card); the token is single-use (the claim is one conditional
-- UPDATE of the live row, which only one of two racing charges can make); every issue is kept in
-- the history table with how it ended, and an ended issue never keeps its hash.
ALTER TABLE qr_issues ADD COLUMN token_hash bytea;
UPDATE qr_issues i SET token_hash = t.token_hash FROM qr_tokens t WHERE t.issue_id = i.id AND i.ended_at IS NULL;
ALTER TABLE qr_issues
    ADD CONSTRAINT qr_issues_token_hash_length CHECK (token_hash IS NULL OR length(token_hash) = 32),
    ADD CONSTRAINT qr_issues_ended_without_hash CHECK (ended_at IS NULL OR token_hash IS NULL),
    ADD CONSTRAINT qr_issues_expiry CHECK (expires_at > issued_at) NOT VALID;
-- An open issue left without a token (its `qr_tokens` row deleted by hand) stays open with no hash:
-- nothing can use it, and the next issue for its card ends it as superseded.
CREATE UNIQUE INDEX qr_issues_live_card_key ON qr_issues (card_id) WHERE ended_at IS NULL;
CREATE UNIQUE INDEX qr_issues_live_token_key ON qr_issues (token_hash) WHERE ended_at IS NULL;
DROP TABLE qr_tokens;

-- Issue 14 §3, one name per operation: each idempotent money operation had an idempotency scope
-- (stored in `idempotency_keys.operation` and hashed into the request fingerprint) and a SQL
-- function of another name (the `mps_api_rpc_calls_total` label). The scope names stay — records
-- of the last 48 h are stored and fingerprinted under them, so renaming them would turn a retry
-- across the upgrade into 409 IDEMPOTENCY_KEY_REUSED (or, mid-upgrade, a second execution) — and
-- the functions take them: charge_by_qr → charge, refund_payment → refund, create_recharge_order →
-- member_recharge, merchant_topup → merchant_recharge, admin_credit_card → admin_recharge
-- (sql/functions/payments.sql and recharges.sql create the new names).
DROP FUNCTION IF EXISTS charge_by_qr(uuid, text, text, bytea, bytea, numeric, text, jsonb, text, uuid, uuid, uuid);
DROP FUNCTION IF EXISTS refund_payment(uuid, text, text, bytea, text, numeric, text, jsonb, text, uuid, uuid);
DROP FUNCTION IF EXISTS create_recharge_order(uuid, text, bytea, uuid, numeric, payment_method, text, text);
DROP FUNCTION IF EXISTS merchant_topup(uuid, text, text, bytea, text, numeric, text, uuid, uuid, uuid);
DROP FUNCTION IF EXISTS admin_credit_card(uuid, text, bytea, uuid, numeric, text, text);
