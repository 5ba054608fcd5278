-- The programme around the money: cards and bindings, the level table, settlements and the
-- figures reports read. Same conventions as 0010: explicit principals, pinned search_path,
-- business errors through `raise_business_error`, one `audit(...)` per mutation, and
-- `affected_members` in results so callers can invalidate cached card lists.

---------------------------------------------------------------------------------------------------
-- Cards as admins see them
---------------------------------------------------------------------------------------------------

-- A card with its first owner, priced for that owner (columns named as `CARD_VIEW_COLUMNS`).
-- `status` is the effective status (past `expires_at` a card shows `expired`); `stored_status`
-- is the one the state machine moves.
CREATE VIEW admin_card_views AS
SELECT c.id,
       c.card_no,
       c.card_type,
       c.name,
       c.balance,
       c.points,
       c.level,
       c.level_discount AS discount,
       effective_discount(c.card_type, c.level_discount, c.fixed_discount, o.id) AS effective_discount,
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
LEFT JOIN members o ON o.id = card_owner_id(c.id);

-- Locks a card by id, or raises CARD_NOT_FOUND.
CREATE FUNCTION card_for_update(p_card_id uuid) RETURNS cards
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

-- Raises MEMBER_NOT_FOUND unless the member exists and is not deleted.
CREATE FUNCTION require_member_exists(p_member_id uuid) RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM members WHERE id = p_member_id AND status <> 'deleted') THEN
        PERFORM raise_business_error('MEMBER_NOT_FOUND', 'No member has this id.');
    END IF;
END $$;

-- Issues a corporate or voucher card to its owner. A voucher's initial balance is a completed
-- `manual` recharge (written by `credit_card`), so its balance equals its credits minus debits.
CREATE FUNCTION create_card(p_admin_id uuid, p_card_type card_type, p_owner_member_id uuid, p_name text,
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
CREATE FUNCTION card_status_move_allowed(p_from card_status, p_to card_status) RETURNS boolean
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
CREATE FUNCTION set_card_status(p_admin_id uuid, p_card_id uuid, p_status card_status, p_only_from card_status,
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
    IF p_status <> 'active' THEN
        DELETE FROM qr_tokens WHERE card_id = p_card_id RETURNING issue_id INTO v_issue;
        UPDATE qr_issues SET ended_at = now(), end_reason = 'revoked' WHERE id = v_issue AND ended_at IS NULL;
    END IF;
    PERFORM audit(p_admin_id, 'admin', p_action, 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'from', v_card.status, 'to', p_status,
                                     'reason', p_reason, 'qr_revoked', v_issue IS NOT NULL),
                  p_request_id);
    RETURN jsonb_build_object('card_id', p_card_id, 'previous_status', v_card.status,
                              'affected_members', card_member_ids(p_card_id));
END $$;

-- Sets (or, with NULL, clears) a corporate card's binding password hash.
CREATE FUNCTION set_binding_password(p_admin_id uuid, p_card_id uuid, p_hash text, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards := card_for_update(p_card_id);
BEGIN
    IF v_card.card_type <> 'corporate' THEN
        PERFORM raise_business_error('CARD_TYPE_NOT_SHAREABLE',
            'Only corporate cards are shared; a ' || v_card.card_type || ' card has no binding password.');
    END IF;
    IF v_card.status = 'closed' THEN
        PERFORM raise_business_error('CARD_CLOSED', 'The card is closed.');
    END IF;
    UPDATE cards SET binding_password_hash = p_hash, updated_at = now() WHERE id = p_card_id;
    PERFORM audit(p_admin_id, 'admin', 'SET_BINDING_PASSWORD', 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'cleared', p_hash IS NULL), p_request_id);
    RETURN jsonb_build_object('card_id', p_card_id, 'affected_members', card_member_ids(p_card_id));
END $$;

---------------------------------------------------------------------------------------------------
-- Bindings
---------------------------------------------------------------------------------------------------

-- Binds a member to a corporate card. Admins bind anyone with any role; a member binds only
-- themselves, as `member` or `viewer`, to an active card with a binding password. The password
-- is verified by the caller (argon2, in Rust), which passes the verdict in `p_password_ok`.
-- The card row is locked, so the checks and the insert see one state.
CREATE FUNCTION bind_card(p_actor_id uuid, p_actor_role actor_role, p_card_id uuid, p_member_id uuid,
                          p_role binding_role, p_password_ok boolean, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards := card_for_update(p_card_id);
    v_existing binding_role;
BEGIN
    IF v_card.card_type <> 'corporate' THEN
        PERFORM raise_business_error('CARD_TYPE_NOT_SHAREABLE',
            'Only corporate cards can be shared; a ' || v_card.card_type || ' card cannot.');
    END IF;
    IF p_actor_role = 'member' THEN
        IF p_member_id <> p_actor_id OR p_role NOT IN ('member', 'viewer') THEN
            PERFORM raise_business_error('VALIDATION_FAILED', 'Members bind only themselves, as member or viewer.',
                jsonb_build_object('fields', jsonb_build_object('role', 'must be member or viewer')));
        END IF;
        IF v_card.binding_password_hash IS NULL OR NOT p_password_ok THEN
            PERFORM raise_business_error('INVALID_BINDING_PASSWORD',
                'The binding password is wrong, or this card cannot be joined.');
        END IF;
        PERFORM require_member_active(p_member_id);
        PERFORM require_card_usable(v_card);
    ELSE
        PERFORM require_member_exists(p_member_id);
        IF v_card.status = 'closed' THEN
            PERFORM raise_business_error('CARD_CLOSED', 'The card is closed.');
        END IF;
    END IF;
    SELECT role INTO v_existing FROM card_bindings WHERE card_id = p_card_id AND member_id = p_member_id AND active;
    IF FOUND THEN
        PERFORM raise_business_error('ALREADY_BOUND', 'The member is already bound to this card as ' || v_existing || '.',
            jsonb_build_object('role', v_existing));
    END IF;
    INSERT INTO card_bindings (card_id, member_id, role) VALUES (p_card_id, p_member_id, p_role);
    PERFORM audit(p_actor_id, p_actor_role, 'BIND_CARD', 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'member_id', p_member_id, 'role', p_role),
                  p_request_id);
    RETURN jsonb_build_object('card_id', p_card_id, 'card_no', v_card.card_no, 'member_id', p_member_id,
                              'role', p_role, 'affected_members', card_member_ids(p_card_id));
END $$;

-- Raises CANNOT_REMOVE_LAST_OWNER when the member is the card's only live owner.
CREATE FUNCTION require_another_owner(p_card_id uuid, p_member_id uuid) RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM card_bindings
                   WHERE card_id = p_card_id AND member_id <> p_member_id AND active AND role = 'owner') THEN
        PERFORM raise_business_error('CANNOT_REMOVE_LAST_OWNER',
            'This is the card''s last owner; add another owner first.');
    END IF;
END $$;

-- The live binding of a member to a locked card, or a 404 in the caller's terms.
CREATE FUNCTION live_binding(p_actor_role actor_role, p_card_id uuid, p_member_id uuid) RETURNS card_bindings
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_binding card_bindings;
BEGIN
    SELECT * INTO v_binding FROM card_bindings WHERE card_id = p_card_id AND member_id = p_member_id AND active;
    IF NOT FOUND THEN
        IF p_actor_role = 'member' THEN
            PERFORM raise_business_error('CARD_NOT_FOUND', 'You hold no card with this id.');
        END IF;
        PERFORM raise_business_error('NOT_FOUND', 'This member is not bound to this card.');
    END IF;
    RETURN v_binding;
END $$;

-- Ends a member's binding (a member leaving, or an admin removing it); never the last owner's.
CREATE FUNCTION unbind_card(p_actor_id uuid, p_actor_role actor_role, p_card_id uuid, p_member_id uuid,
                            p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards;
    v_binding card_bindings;
    v_affected jsonb;
BEGIN
    SELECT * INTO v_card FROM cards WHERE id = p_card_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_business_error('CARD_NOT_FOUND',
            CASE WHEN p_actor_role = 'member' THEN 'You hold no card with this id.' ELSE 'No card has this id or number.' END);
    END IF;
    v_binding := live_binding(p_actor_role, p_card_id, p_member_id);
    IF v_binding.role = 'owner' THEN
        PERFORM require_another_owner(p_card_id, p_member_id);
    END IF;
    v_affected := card_member_ids(p_card_id);
    UPDATE card_bindings SET active = false, ended_at = now() WHERE id = v_binding.id;
    PERFORM audit(p_actor_id, p_actor_role, 'UNBIND_CARD', 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'member_id', p_member_id, 'role', v_binding.role),
                  p_request_id);
    RETURN jsonb_build_object('card_id', p_card_id, 'card_no', v_card.card_no, 'member_id', p_member_id,
                              'role', v_binding.role, 'affected_members', v_affected);
END $$;

-- An admin's change of a binding's role; the last owner is never downgraded.
CREATE FUNCTION change_binding_role(p_admin_id uuid, p_card_id uuid, p_member_id uuid, p_role binding_role,
                                    p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards := card_for_update(p_card_id);
    v_binding card_bindings := live_binding('admin', p_card_id, p_member_id);
BEGIN
    IF v_binding.role = 'owner' AND p_role <> 'owner' THEN
        PERFORM require_another_owner(p_card_id, p_member_id);
    END IF;
    IF p_role <> 'owner' AND v_card.card_type <> 'corporate' THEN
        PERFORM raise_business_error('CARD_TYPE_NOT_SHAREABLE', 'Only corporate cards have roles besides owner.');
    END IF;
    UPDATE card_bindings SET role = p_role WHERE id = v_binding.id;
    PERFORM audit(p_admin_id, 'admin', 'BINDING_ROLE_CHANGE', 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'member_id', p_member_id,
                                     'from', v_binding.role, 'to', p_role),
                  p_request_id);
    RETURN jsonb_build_object('card_id', p_card_id, 'card_no', v_card.card_no, 'member_id', p_member_id,
                              'role', p_role, 'affected_members', card_member_ids(p_card_id));
END $$;

---------------------------------------------------------------------------------------------------
-- The level table
---------------------------------------------------------------------------------------------------

-- The active levels, lowest range first, discounts as decimal strings.
CREATE FUNCTION level_table_json() RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('level', l.level, 'name', l.name, 'min_points', l.min_points,
                                                     'max_points', l.max_points, 'discount', l.discount::text)
                                  ORDER BY l.min_points), '[]')
        FROM membership_levels l WHERE l.active);

-- What is wrong with a proposed level table, or NULL: ranges start at 0 and follow each other
-- without gaps or overlaps, only the last may be open-ended, level numbers are unique and rise
-- with the ranges, names are 1–50 characters, discounts lie in (0, 1] with at most 3 decimals.
CREATE FUNCTION level_table_problem(p_levels jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_row record;
    v_first boolean := true;
    v_prev_level int;
    v_prev_max bigint;
BEGIN
    IF jsonb_typeof(p_levels) <> 'array' OR jsonb_array_length(p_levels) = 0 THEN
        RETURN 'the table needs at least one level';
    END IF;
    IF jsonb_array_length(p_levels) > 100 THEN
        RETURN 'the table has at most 100 levels';
    END IF;
    FOR v_row IN
        SELECT (e ->> 'level')::int AS level, btrim(e ->> 'name') AS name, (e ->> 'min_points')::bigint AS min_points,
               (e ->> 'max_points')::bigint AS max_points, (e ->> 'discount')::numeric AS discount
        FROM jsonb_array_elements(p_levels) e
        ORDER BY (e ->> 'min_points')::bigint, (e ->> 'level')::int
    LOOP
        IF v_row.level IS NULL OR v_row.level < 0 THEN
            RETURN 'level numbers are integers from 0';
        ELSIF v_row.name IS NULL OR length(v_row.name) NOT BETWEEN 1 AND 50 THEN
            RETURN 'level ' || v_row.level || ': the name must be 1 to 50 characters';
        ELSIF v_row.discount IS NULL OR v_row.discount <= 0 OR v_row.discount > 1
              OR v_row.discount <> round(v_row.discount, 3) THEN
            RETURN 'level ' || v_row.level || ': the discount must lie in (0, 1] with at most 3 decimals';
        ELSIF v_row.min_points IS NULL OR (v_row.max_points IS NOT NULL AND v_row.max_points < v_row.min_points) THEN
            RETURN 'level ' || v_row.level || ': max_points must not be below min_points';
        ELSIF v_first THEN
            IF v_row.min_points <> 0 THEN
                RETURN 'the lowest range must start at 0 points';
            END IF;
        ELSIF v_prev_max IS NULL THEN
            RETURN 'only the last level may be open-ended (level ' || v_prev_level || ' is not last)';
        ELSIF v_row.min_points <= v_prev_max THEN
            RETURN 'levels ' || v_prev_level || ' and ' || v_row.level || ' overlap';
        ELSIF v_row.min_points > v_prev_max + 1 THEN
            RETURN 'there is a gap between levels ' || v_prev_level || ' and ' || v_row.level;
        ELSIF v_row.level <= v_prev_level THEN
            RETURN 'level numbers must be unique and rise with the point ranges';
        END IF;
        v_first := false;
        v_prev_level := v_row.level;
        v_prev_max := v_row.max_points;
    END LOOP;
    RETURN NULL;
END $$;

-- Replaces the level table. Cards keep their level until their points next change
-- (`set_card_points` then maps them under the new table).
CREATE FUNCTION replace_levels(p_admin_id uuid, p_levels jsonb, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_problem text := level_table_problem(p_levels);
    v_before jsonb;
BEGIN
    IF v_problem IS NOT NULL THEN
        PERFORM raise_business_error('INVALID_LEVEL_TABLE', 'The level table is invalid: ' || v_problem || '.',
                                     jsonb_build_object('problem', v_problem));
    END IF;
    -- Concurrent replacements queue here (readers are not blocked: they see the old table or the new).
    LOCK TABLE membership_levels IN EXCLUSIVE MODE;
    v_before := level_table_json();
    DELETE FROM membership_levels;
    INSERT INTO membership_levels (level, name, min_points, max_points, discount)
    SELECT (e ->> 'level')::int, btrim(e ->> 'name'), (e ->> 'min_points')::bigint, (e ->> 'max_points')::bigint,
           (e ->> 'discount')::numeric
    FROM jsonb_array_elements(p_levels) e;
    PERFORM audit(p_admin_id, 'admin', 'LEVELS_UPDATE', 'levels', NULL,
                  jsonb_build_object('before', v_before, 'after', level_table_json()), p_request_id);
    RETURN level_table_json();
END $$;

---------------------------------------------------------------------------------------------------
-- Settlements and reports
---------------------------------------------------------------------------------------------------

-- A merchant's books over [p_start, p_end) by `created_at`: payments (completed or since
-- refunded: what members paid), completed refunds, and counter top-ups (cash collected for the
-- platform). Settlements and the daily summary both count with this one definition.
CREATE FUNCTION merchant_period_totals(p_merchant_id uuid, p_start timestamptz, p_end timestamptz,
                                       OUT payment_count bigint, OUT payment_amount numeric,
                                       OUT refund_count bigint, OUT refund_amount numeric,
                                       OUT topup_count bigint, OUT topup_amount numeric)
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT count(*) FILTER (WHERE t.tx_type = 'payment' AND t.status IN ('completed', 'refunded')),
           coalesce(sum(t.final_amount) FILTER (WHERE t.tx_type = 'payment' AND t.status IN ('completed', 'refunded')), 0),
           count(*) FILTER (WHERE t.tx_type = 'refund' AND t.status = 'completed'),
           coalesce(sum(t.final_amount) FILTER (WHERE t.tx_type = 'refund' AND t.status = 'completed'), 0),
           count(*) FILTER (WHERE t.tx_type = 'recharge' AND t.payment_method = 'cash' AND t.status = 'completed'),
           coalesce(sum(t.final_amount) FILTER (WHERE t.tx_type = 'recharge' AND t.payment_method = 'cash'
                                                  AND t.status = 'completed'), 0)
    FROM transactions t
    WHERE t.merchant_id = p_merchant_id AND t.created_at >= p_start AND t.created_at < p_end
$$;

CREATE VIEW settlement_views AS
SELECT s.id,
       s.settlement_no,
       s.merchant_id,
       m.code AS merchant_code,
       s.mode,
       s.period_start,
       s.period_end,
       s.payment_count,
       s.payment_amount::text AS payment_amount,
       s.refund_count,
       s.refund_amount::text AS refund_amount,
       s.topup_count,
       s.topup_amount::text AS topup_amount,
       s.net_amount::text AS net_amount,
       s.status,
       s.created_at,
       s.updated_at
FROM settlements s
JOIN merchants m ON m.id = s.merchant_id;

CREATE FUNCTION settlement_json(p_settlement_id uuid) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
RETURN (SELECT to_jsonb(v) FROM settlement_views v WHERE v.id = p_settlement_id);

-- Settles a merchant's closed period [p_start, p_end). Every transaction is settled at most
-- once: the exclusion constraint `settlements_no_overlap` refuses any overlapping period of the
-- same merchant, also when two requests race (the second waits for the first, then fails).
CREATE FUNCTION generate_settlement(p_merchant_id uuid, p_mode settlement_mode, p_start timestamptz,
                                    p_end timestamptz, p_margin_seconds int, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_totals record;
    v_id uuid;
    v_other text;
BEGIN
    IF p_end > now() - make_interval(secs => p_margin_seconds) THEN
        PERFORM raise_business_error('PERIOD_NOT_CLOSED',
            'This period has not closed yet; it can be settled from ' ||
            to_char((p_end + make_interval(secs => p_margin_seconds)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '.',
            jsonb_build_object('period_end', p_end, 'settleable_from', p_end + make_interval(secs => p_margin_seconds)));
    END IF;
    SELECT * INTO v_totals FROM merchant_period_totals(p_merchant_id, p_start, p_end);
    BEGIN
        INSERT INTO settlements (merchant_id, mode, period_start, period_end, payment_count, payment_amount,
                                 refund_count, refund_amount, topup_count, topup_amount, net_amount)
        VALUES (p_merchant_id, p_mode, p_start, p_end, v_totals.payment_count, v_totals.payment_amount,
                v_totals.refund_count, v_totals.refund_amount, v_totals.topup_count, v_totals.topup_amount,
                v_totals.payment_amount - v_totals.refund_amount - v_totals.topup_amount)
        RETURNING id INTO v_id;
    EXCEPTION WHEN exclusion_violation THEN
        SELECT settlement_no INTO v_other FROM settlements
        WHERE merchant_id = p_merchant_id AND tstzrange(period_start, period_end) && tstzrange(p_start, p_end)
        ORDER BY period_start LIMIT 1;
        PERFORM raise_business_error('SETTLEMENT_ALREADY_EXISTS',
            'Settlement ' || coalesce(v_other, '') || ' already covers part of this period.',
            jsonb_build_object('settlement_no', v_other));
    END;
    PERFORM audit(p_merchant_id, 'merchant', 'SETTLEMENT_GENERATE', 'settlement', v_id::text,
                  jsonb_build_object('mode', p_mode, 'period_start', p_start, 'period_end', p_end,
                                     'net_amount', (v_totals.payment_amount - v_totals.refund_amount
                                                    - v_totals.topup_amount)::text),
                  p_request_id);
    RETURN settlement_json(v_id);
END $$;

-- pending → settled → paid, pending → failed → pending.
CREATE FUNCTION settlement_move_allowed(p_from settlement_status, p_to settlement_status) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE p_from
    WHEN 'pending' THEN p_to IN ('settled', 'failed')
    WHEN 'settled' THEN p_to = 'paid'
    WHEN 'failed' THEN p_to = 'pending'
    ELSE false
END;

CREATE FUNCTION update_settlement_status(p_admin_id uuid, p_settlement_id uuid, p_status settlement_status,
                                         p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_settlement settlements;
BEGIN
    SELECT * INTO v_settlement FROM settlements WHERE id = p_settlement_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_business_error('SETTLEMENT_NOT_FOUND', 'No settlement has this id.');
    END IF;
    IF NOT settlement_move_allowed(v_settlement.status, p_status) THEN
        PERFORM raise_business_error('INVALID_STATUS_TRANSITION',
            'A ' || v_settlement.status || ' settlement cannot become ' || p_status || '.',
            jsonb_build_object('from', v_settlement.status, 'to', p_status));
    END IF;
    UPDATE settlements SET status = p_status, updated_at = now() WHERE id = p_settlement_id;
    PERFORM audit(p_admin_id, 'admin', 'SETTLEMENT_STATUS_UPDATE', 'settlement', p_settlement_id::text,
                  jsonb_build_object('settlement_no', v_settlement.settlement_no,
                                     'from', v_settlement.status, 'to', p_status),
                  p_request_id);
    RETURN settlement_json(p_settlement_id);
END $$;

-- A merchant's day [p_start, p_end): the period totals, and payments per hour-long bucket from
-- p_start (23, 24 or 25 buckets on a local day; the caller labels them with local hours).
CREATE FUNCTION merchant_daily_summary(p_merchant_id uuid, p_start timestamptz, p_end timestamptz) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'payment_count', t.payment_count, 'payment_amount', t.payment_amount::text,
        'refund_count', t.refund_count, 'refund_amount', t.refund_amount::text,
        'net_amount', (t.payment_amount - t.refund_amount)::text,
        'hourly', (
            SELECT jsonb_agg(jsonb_build_object('start', b.start, 'count', b.count, 'amount', b.amount::text)
                             ORDER BY b.start)
            FROM (SELECT s.start, count(p.id) AS count, coalesce(sum(p.final_amount), 0) AS amount
                  FROM generate_series(p_start, p_end - interval '1 microsecond', interval '1 hour') AS s(start)
                  LEFT JOIN transactions p
                         ON p.merchant_id = p_merchant_id AND p.tx_type = 'payment'
                        AND p.status IN ('completed', 'refunded')
                        AND p.created_at >= s.start AND p.created_at < least(s.start + interval '1 hour', p_end)
                  GROUP BY s.start) b))
    FROM merchant_period_totals(p_merchant_id, p_start, p_end) t
$$;

-- The back office's figures; "today" is [p_day_start, p_day_end) in the business time zone.
CREATE FUNCTION admin_statistics(p_day_start timestamptz, p_day_end timestamptz) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'members', (SELECT jsonb_build_object('total', count(*),
                                              'active', count(*) FILTER (WHERE status = 'active'),
                                              'suspended', count(*) FILTER (WHERE status = 'suspended'))
                    FROM members WHERE status <> 'deleted'),
        'cards', (SELECT jsonb_build_object(
                      'total', count(*),
                      'active', count(*) FILTER (WHERE s = 'active'),
                      'inactive', count(*) FILTER (WHERE s = 'inactive'),
                      'lost', count(*) FILTER (WHERE s = 'lost'),
                      'expired', count(*) FILTER (WHERE s = 'expired'),
                      'closed', count(*) FILTER (WHERE s = 'closed'),
                      'by_type', jsonb_build_object(
                          'standard', count(*) FILTER (WHERE card_type = 'standard'),
                          'voucher', count(*) FILTER (WHERE card_type = 'voucher'),
                          'corporate', count(*) FILTER (WHERE card_type = 'corporate')))
                  FROM (SELECT card_type, effective_card_status(status, expires_at) AS s FROM cards) c),
        'merchants', (SELECT jsonb_build_object('total', count(*),
                                                'active', count(*) FILTER (WHERE status = 'active'),
                                                'suspended', count(*) FILTER (WHERE status = 'suspended'))
                      FROM merchants),
        'today', (SELECT jsonb_build_object(
                      'payments', jsonb_build_object(
                          'count', count(*) FILTER (WHERE tx_type = 'payment' AND status IN ('completed', 'refunded')),
                          'amount', coalesce(sum(final_amount) FILTER (
                              WHERE tx_type = 'payment' AND status IN ('completed', 'refunded')), 0)::text),
                      'refunds', jsonb_build_object(
                          'count', count(*) FILTER (WHERE tx_type = 'refund' AND status = 'completed'),
                          'amount', coalesce(sum(final_amount) FILTER (
                              WHERE tx_type = 'refund' AND status = 'completed'), 0)::text),
                      'recharges', jsonb_build_object(
                          'count', count(*) FILTER (WHERE tx_type = 'recharge' AND status = 'completed'),
                          'amount', coalesce(sum(final_amount) FILTER (
                              WHERE tx_type = 'recharge' AND status = 'completed'), 0)::text),
                      'qr_issued', (SELECT count(*) FROM qr_issues
                                    WHERE issued_at >= p_day_start AND issued_at < p_day_end),
                      'new_members', (SELECT count(*) FROM members
                                      WHERE created_at >= p_day_start AND created_at < p_day_end))
                  FROM transactions WHERE created_at >= p_day_start AND created_at < p_day_end))
$$;
