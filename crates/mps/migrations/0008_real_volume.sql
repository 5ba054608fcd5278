-- Issue 15 — real volume: an index for every list's order and filter, so that a page (first or
-- deep, by cursor) reads one index range of about a page whatever the table holds. Each list
-- orders by a unique key (timestamp, tiebreaker) (crates/mps/src/db/paging.rs); the indexes end
-- in the tiebreaker so `(ts, id) < (cursor)` is a range of them.
--
-- Indexes on the payment path are *replaced*, not added to: a charge still writes the same number
-- of index entries (transactions: card, merchant; point_ledger: card; audit_events: four).

-- Transactions: a card's (member lists, merged per card) and a merchant's, newest first.
DROP INDEX transactions_card_created_idx;
CREATE INDEX transactions_card_page_idx ON transactions (card_id, created_at, id);
DROP INDEX transactions_merchant_created_idx;
CREATE INDEX transactions_merchant_page_idx ON transactions (merchant_id, created_at, id)
    WHERE merchant_id IS NOT NULL;
-- Lists filtered to refunds or recharges: payments are most rows, so a refund list over the
-- indexes above would walk past them. Payments never write these.
CREATE INDEX transactions_card_other_idx ON transactions (card_id, created_at, id)
    WHERE tx_type <> 'payment';
CREATE INDEX transactions_merchant_other_idx ON transactions (merchant_id, created_at, id)
    WHERE tx_type <> 'payment' AND merchant_id IS NOT NULL;

-- A card's points ledger.
DROP INDEX point_ledger_card_idx;
CREATE INDEX point_ledger_card_page_idx ON point_ledger (card_id, created_at, id);

-- The audit log and each of its filters.
DROP INDEX audit_events_time_idx;
CREATE INDEX audit_events_page_idx ON audit_events (occurred_at, id);
DROP INDEX audit_events_actor_idx;
CREATE INDEX audit_events_actor_page_idx ON audit_events (actor_id, occurred_at, id);
DROP INDEX audit_events_action_idx;
CREATE INDEX audit_events_action_page_idx ON audit_events (action, occurred_at, id);
DROP INDEX audit_events_object_idx;
CREATE INDEX audit_events_object_page_idx ON audit_events (object_type, object_id, occurred_at, id);

-- Admin searches: members, merchants and cards newest first, alone or by status / type.
DROP INDEX members_created_at_idx;
CREATE INDEX members_page_idx ON members (created_at, id);
DROP INDEX members_status_idx;
CREATE INDEX members_status_page_idx ON members (status, created_at, id);
DROP INDEX merchants_created_at_idx;
CREATE INDEX merchants_page_idx ON merchants (created_at, id);
CREATE INDEX merchants_status_page_idx ON merchants (status, created_at, id);
DROP INDEX cards_created_at_idx;
CREATE INDEX cards_page_idx ON cards (created_at, id);
CREATE INDEX cards_type_page_idx ON cards (card_type, created_at, id);

-- Settlements, latest period first: a merchant's, and every merchant's.
DROP INDEX settlements_merchant_created_idx;
CREATE INDEX settlements_merchant_page_idx ON settlements (merchant_id, period_start, id);
CREATE INDEX settlements_page_idx ON settlements (period_start, id);

-- A card's live bindings, oldest first.
CREATE INDEX card_bindings_card_page_idx ON card_bindings (card_id, created_at, member_id) WHERE active;
