-- Cards: what a member sees of a card (discount, status, owner, members), locking a card for an
-- operation, issuing cards and moving their status. The pricing helpers are shared by the card
-- views and the charge function, so what a member is shown is exactly what a payment would use.
-- The view comes last: it calls the functions above it.

-- The best (lowest) fixed discount over the member's live bindings, as owner, admin or member
-- (viewers get none), to active, unexpired corporate cards: one row, NULL when there is none.
-- The one text of this rule. A set-returning `BEGIN ATOMIC` function (bound when created, so it
-- has no search_path to pin) is inlined by PostgreSQL into the query that reads it, as a
-- subquery: `admin_card_views` prices a page of cards with one index probe per row instead of
-- a plpgsql call and its SPI query per row (issue 15, third pass).
CREATE OR REPLACE FUNCTION member_corporate_discounts(p_member_id uuid) RETURNS TABLE (discount numeric)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT min(c.fixed_discount)
    FROM card_bindings b
    JOIN cards c ON c.id = b.card_id
    WHERE b.member_id = p_member_id
      AND b.active
      AND b.role IN ('owner', 'admin', 'member')
      AND c.card_type = 'corporate'
      AND c.status = 'active'
      AND (c.expires_at IS NULL OR c.expires_at > now());
END;

-- `member_corporate_discounts` as a scalar, for the charge and a member's own card list.
-- plpgsql rather than LANGUAGE sql so that its plan is cached per connection (sql/README.md).
CREATE OR REPLACE FUNCTION member_corporate_discount(p_member_id uuid) RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN (SELECT d.discount FROM member_corporate_discounts(p_member_id) d);
END $$;

-- The multiplier a payment with this card is priced at, given the paying member's corporate
-- discount (`member_corporate_discount`): standard cards take the better of their level discount
-- and that; vouchers pay face value; corporate cards cannot pay (their own fixed discount is
-- shown). The one text of this rule: an expression PostgreSQL inlines where a view calls it.
CREATE OR REPLACE FUNCTION card_discount(p_card_type card_type, p_level_discount numeric,
                                         p_fixed_discount numeric, p_corporate_discount numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN round(CASE p_card_type
        WHEN 'standard' THEN least(p_level_discount, coalesce(p_corporate_discount, 1))
        WHEN 'voucher' THEN 1
        ELSE coalesce(p_fixed_discount, 1)
    END, 3);

-- The multiplier a payment with this card by this member is priced at (`card_discount`); the
-- member's corporate discount is looked up for standard cards only, the only ones it can lower.
-- plpgsql rather than LANGUAGE sql so that its plan is cached per connection (sql/README.md).
CREATE OR REPLACE FUNCTION effective_discount(p_card_type card_type, p_level_discount numeric,
                                              p_fixed_discount numeric, p_member_id uuid) RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN card_discount(p_card_type, p_level_discount, p_fixed_discount,
                         CASE WHEN p_card_type = 'standard' THEN member_corporate_discount(p_member_id) END);
END $$;

-- A card's status as it behaves now: past `expires_at` an active or frozen card is `expired`.
CREATE OR REPLACE FUNCTION effective_card_status(p_status card_status, p_expires_at timestamptz) RETURNS card_status
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN p_status IN ('active', 'inactive') AND p_expires_at IS NOT NULL AND p_expires_at <= now()
            THEN 'expired'::card_status ELSE p_status END;

-- Members whose cached card lists a change of this card makes stale.
-- plpgsql rather than LANGUAGE sql so that its plan is cached per connection (sql/README.md).
CREATE OR REPLACE FUNCTION card_member_ids(p_card_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(b.member_id), '[]') FROM card_bindings b WHERE b.card_id = p_card_id AND b.active);
END $$;

-- Locks and returns a card the member owns, or raises CARD_NOT_FOUND.
CREATE OR REPLACE FUNCTION owned_card_for_update(p_member_id uuid, p_card_id uuid) RETURNS cards
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards;
BEGIN
    SELECT c.* INTO v_card FROM cards c
    WHERE c.id = p_card_id
      AND EXISTS (SELECT 1 FROM card_bindings b
                  WHERE b.card_id = c.id AND b.member_id = p_member_id AND b.active AND b.role = 'owner')
    FOR UPDATE OF c;
    IF NOT FOUND THEN
        PERFORM raise_business_error('CARD_NOT_FOUND', 'You own no card with this id.');
    END IF;
    RETURN v_card;
END $$;

-- Raises the right error when a card cannot be used now (closed, expired, frozen or lost).
CREATE OR REPLACE FUNCTION require_card_usable(p_card cards) RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_card.status = 'closed' THEN
        PERFORM raise_business_error('CARD_CLOSED', 'The card is closed.');
    ELSIF effective_card_status(p_card.status, p_card.expires_at) = 'expired' THEN
        PERFORM raise_business_error('CARD_EXPIRED', 'The card has expired.');
    ELSIF p_card.status <> 'active' THEN
        PERFORM raise_business_error('CARD_NOT_ACTIVE', 'The card is ' ||
            CASE p_card.status WHEN 'inactive' THEN 'frozen' ELSE p_card.status::text END || '.');
    END IF;
END $$;

-- Sets a card's points and recomputes its level under the level table in force now.
CREATE OR REPLACE FUNCTION set_card_points(p_card_id uuid, p_points bigint) RETURNS int
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_level int;
    v_discount numeric;
BEGIN
    SELECT l.level, l.discount INTO v_level, v_discount FROM level_for_points(p_points) l;
    UPDATE cards SET points = p_points, level = v_level, level_discount = v_discount, updated_at = now()
    WHERE id = p_card_id;
    RETURN v_level;
END $$;

-- The owner of a standard or voucher card (these have exactly one).
-- plpgsql rather than LANGUAGE sql so that its plan is cached per connection (sql/README.md).
CREATE OR REPLACE FUNCTION card_owner_id(p_card_id uuid) RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN (SELECT member_id FROM card_bindings WHERE card_id = p_card_id AND active AND role = 'owner'
            ORDER BY created_at LIMIT 1);
END $$;

-- Locks a card by id, or raises CARD_NOT_FOUND.
CREATE OR REPLACE FUNCTION card_for_update(p_card_id uuid) RETURNS cards
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards;
BEGIN
    SELECT * INTO v_card FROM cards WHERE id = p_card_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_business_error('CARD_NOT_FOUND', 'No card has this id or number.');
    END IF;
    RETURN v_card;
END $$;

-- Issues a corporate or voucher card to its owner. A voucher's initial balance is a completed
-- `manual` recharge (written by `credit_card`), so its balance equals its credits minus debits.
CREATE OR REPLACE FUNCTION create_card(p_admin_id uuid, p_card_type card_type, p_owner_member_id uuid, p_name text,
                                       p_fixed_discount numeric, p_binding_password_hash text, p_initial_balance numeric,
                                       p_expires_at timestamptz, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards;
    v_credit jsonb;
BEGIN
    IF p_card_type = 'standard' THEN
        PERFORM raise_business_error('VALIDATION_FAILED', 'Standard cards are created with their member.',
            jsonb_build_object('fields', jsonb_build_object('card_type', 'must be corporate or voucher')));
    END IF;
    PERFORM require_member_exists(p_owner_member_id);
    INSERT INTO cards (card_no, card_type, name, fixed_discount, binding_password_hash, expires_at)
    VALUES (next_card_no(p_card_type), p_card_type,
            coalesce(p_name, CASE p_card_type WHEN 'voucher' THEN 'Voucher' ELSE 'Corporate card' END),
            p_fixed_discount, p_binding_password_hash, p_expires_at)
    RETURNING * INTO v_card;
    INSERT INTO card_bindings (card_id, member_id, role) VALUES (v_card.id, p_owner_member_id, 'owner');
    IF p_initial_balance IS NOT NULL THEN
        -- One mutation, one audit event: CREATE_CARD below names the initial recharge.
        v_credit := credit_card(v_card, p_initial_balance, 'manual', NULL, NULL, NULL, 'voucher issue',
                                p_admin_id, 'admin', p_request_id, false);
    END IF;
    PERFORM audit(p_admin_id, 'admin', 'CREATE_CARD', 'card', v_card.id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'card_type', v_card.card_type,
                                     'owner_member_id', p_owner_member_id,
                                     'fixed_discount', p_fixed_discount::text,
                                     'binding_password_set', p_binding_password_hash IS NOT NULL,
                                     'initial_balance', p_initial_balance::text,
                                     'initial_tx_no', v_credit -> 'transaction' ->> 'tx_no',
                                     'expires_at', p_expires_at),
                  p_request_id);
    RETURN jsonb_build_object('card_id', v_card.id,
                              'initial_transaction', v_credit -> 'transaction',
                              'affected_members', card_member_ids(v_card.id));
END $$;

-- SPEC §2: active ⇄ inactive; active|inactive → lost; lost → active; any → closed; closed is
-- terminal. `expired` is never set by hand: a card past `expires_at` shows it by itself.
CREATE OR REPLACE FUNCTION card_status_move_allowed(p_from card_status, p_to card_status) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE p_to
    WHEN 'inactive' THEN p_from = 'active'
    WHEN 'active' THEN p_from IN ('inactive', 'lost')
    WHEN 'lost' THEN p_from IN ('active', 'inactive')
    WHEN 'closed' THEN p_from <> 'closed'
    ELSE false
END;

-- Moves a card's status. `p_only_from`, when given, narrows the moves (freeze is only
-- active → inactive, unfreeze only inactive → active). Leaving `active` kills the card's live
-- QR token. `p_action` is the audited verb: CARD_FREEZE, CARD_UNFREEZE or CARD_STATUS_CHANGE.
CREATE OR REPLACE FUNCTION set_card_status(p_admin_id uuid, p_card_id uuid, p_status card_status, p_only_from card_status,
                                           p_action text, p_reason text, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards := card_for_update(p_card_id);
    v_issue bigint;
BEGIN
    IF NOT card_status_move_allowed(v_card.status, p_status)
       OR (p_only_from IS NOT NULL AND v_card.status <> p_only_from) THEN
        PERFORM raise_business_error('INVALID_STATUS_TRANSITION',
            'A ' || v_card.status || ' card cannot become ' || p_status || '.',
            jsonb_build_object('from', v_card.status, 'to', p_status));
    END IF;
    IF p_status = 'closed' AND v_card.balance <> 0 THEN
        PERFORM raise_business_error('CARD_HAS_BALANCE',
            'The card still holds ' || v_card.balance::text || '; it can only be closed once empty.',
            jsonb_build_object('balance', v_card.balance::text));
    END IF;
    UPDATE cards SET status = p_status, updated_at = now() WHERE id = p_card_id;
    PERFORM emit_card_event(v_card, p_status);
    IF p_status <> 'active' THEN
        UPDATE qr_issues SET ended_at = now(), end_reason = 'revoked', token_hash = NULL
        WHERE card_id = p_card_id AND ended_at IS NULL
        RETURNING id INTO v_issue;
    END IF;
    PERFORM audit(p_admin_id, 'admin', p_action, 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'from', v_card.status, 'to', p_status,
                                     'reason', p_reason, 'qr_revoked', v_issue IS NOT NULL),
                  p_request_id);
    RETURN jsonb_build_object('card_id', p_card_id, 'previous_status', v_card.status,
                              'affected_members', card_member_ids(p_card_id));
END $$;

-- A card with its first owner, priced for that owner (columns named as `CARD_VIEW_COLUMNS`).
-- `status` is the effective status (past `expires_at` a card shows `expired`); `stored_status`
-- is the one the state machine moves. The owner is a join on the first live owner binding
-- (`card_bindings_owner_idx`, an index-only probe) rather than a call of `card_owner_id()` per
-- row, the binding count an index-only count (`card_bindings_live_key`), and the price the
-- owner's corporate discount and `card_discount`, both inlined (a subquery evaluated only when
-- the column is read, so a count over the view skips it): a page of cards costs a few index
-- probes per row and no function call (issue 15).
CREATE OR REPLACE VIEW admin_card_views AS
SELECT c.id,
       c.card_no,
       c.card_type,
       c.name,
       c.balance,
       c.points,
       c.level,
       c.level_discount AS discount,
       card_discount(c.card_type, c.level_discount, c.fixed_discount,
                     (SELECT d.discount FROM member_corporate_discounts(o.id) d)) AS effective_discount,
       c.fixed_discount,
       effective_card_status(c.status, c.expires_at) AS status,
       c.status AS stored_status,
       c.expires_at,
       NULL::binding_role AS role,
       c.created_at,
       c.updated_at,
       c.binding_password_hash IS NOT NULL AS has_binding_password,
       (SELECT count(*) FROM card_bindings b WHERE b.card_id = c.id AND b.active) AS binding_count,
       o.id AS owner_member_id,
       o.member_no AS owner_member_no,
       o.name AS owner_name,
       o.phone AS owner_phone
FROM cards c
LEFT JOIN LATERAL (SELECT ob.member_id FROM card_bindings ob
                   WHERE ob.card_id = c.id AND ob.active AND ob.role = 'owner'
                   ORDER BY ob.created_at LIMIT 1) owner ON true
LEFT JOIN members o ON o.id = owner.member_id;
