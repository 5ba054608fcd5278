-- Card bindings: members joining, leaving and changing their role on a shared (corporate) card.

-- Sets (or, with NULL, clears) a corporate card's binding password hash.
CREATE OR REPLACE FUNCTION set_binding_password(p_admin_id uuid, p_card_id uuid, p_hash text, p_request_id text) RETURNS jsonb
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

-- Binds a member to a corporate card. Admins bind anyone with any role; a member binds only
-- themselves, as `member` or `viewer`, to an active card with a binding password. The password
-- is verified by the caller (argon2, in Rust), which passes the verdict in `p_password_ok`.
-- The card row is locked, so the checks and the insert see one state.
CREATE OR REPLACE FUNCTION bind_card(p_actor_id uuid, p_actor_role actor_role, p_card_id uuid, p_member_id uuid,
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
CREATE OR REPLACE FUNCTION require_another_owner(p_card_id uuid, p_member_id uuid) RETURNS void
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
CREATE OR REPLACE FUNCTION live_binding(p_actor_role actor_role, p_card_id uuid, p_member_id uuid) RETURNS card_bindings
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
CREATE OR REPLACE FUNCTION unbind_card(p_actor_id uuid, p_actor_role actor_role, p_card_id uuid, p_member_id uuid,
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
CREATE OR REPLACE FUNCTION change_binding_role(p_admin_id uuid, p_card_id uuid, p_member_id uuid, p_role binding_role,
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
