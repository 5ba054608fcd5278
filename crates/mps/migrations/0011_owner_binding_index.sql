-- Issue 15 (second pass): the admin card list joins each card to its first live owner binding
-- (`admin_card_views`, sql/functions/cards.sql) instead of calling `card_owner_id()` per row.
-- This index serves that join, and `card_owner_id()` itself, as one index-only probe per card:
-- the first live owner by `created_at`, with the member id in the index. Only binding writes
-- (issue, join, leave) maintain it; no payment does.
CREATE INDEX card_bindings_owner_idx ON card_bindings (card_id, created_at) INCLUDE (member_id)
    WHERE active AND role = 'owner';
