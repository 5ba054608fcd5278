-- Issue 16, fourth pass: a money movement's outbox event is its transaction row. A payment,
-- refund or recharge used to write an `events` row (issue 19's outbox) beside the transaction row
-- that already records the same movement — ≈ 0.7 KB of the ≈ 5 KB of WAL of a payment (QR issue +
-- charge) and a primary-key entry. From here on the event of a movement has the transaction's id,
-- its type follows from `tx_type`, and its payload is the merchant's view of the row as it was when
-- the movement committed (`tx_event_json`, sql/functions/events.sql); the view `event_log` is
-- every event, `events` rows (settlements, card status moves, the movements written before this
-- migration) and movements alike. An event exists exactly when its movement committed, by
-- identity rather than by a second insert. Decisions: docs/decisions.md, "Issue 16", "Fourth pass".

-- A delivery names an event of `event_log`, which is no longer always a row of `events`; the
-- invariants suite checks that each names one (test-support/invariants.sql).
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_event_id_fkey;

-- The movements' events written before this migration keep their rows and their ids (receivers
-- dedupe by id). `event_log` shows a movement as its own event only when it has no such row;
-- this index, holding only those older rows, answers that question. No new row enters it.
CREATE INDEX events_movement_idx ON events (((payload #>> '{transaction,id}')::uuid))
    WHERE type IN ('payment.succeeded', 'refund.succeeded', 'recharge.succeeded');

-- The old signature (type, row, card number): the type now follows from the row.
DROP FUNCTION IF EXISTS emit_tx_event(text, transactions, text);
