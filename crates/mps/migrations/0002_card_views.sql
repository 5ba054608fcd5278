-- Pricing helpers shared by the card views and the charge function, so what a member is shown
-- is exactly what a payment would use.

-- The best (lowest) fixed discount over the member's live bindings, as owner, admin or member
-- (viewers get none), to active, unexpired corporate cards. NULL when there is none.
CREATE FUNCTION member_corporate_discount(p_member_id uuid) RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = public, pg_temp
RETURN (
    SELECT min(c.fixed_discount)
    FROM card_bindings b
    JOIN cards c ON c.id = b.card_id
    WHERE b.member_id = p_member_id
      AND b.active
      AND b.role IN ('owner', 'admin', 'member')
      AND c.card_type = 'corporate'
      AND c.status = 'active'
      AND (c.expires_at IS NULL OR c.expires_at > now())
);

-- The multiplier a payment with this card by this member is priced at: standard cards take the
-- better of their level discount and the member's corporate discount; vouchers pay face value;
-- corporate cards cannot pay (their own fixed discount is shown).
CREATE FUNCTION effective_discount(p_card_type card_type, p_level_discount numeric, p_fixed_discount numeric,
                                   p_member_id uuid) RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = public, pg_temp
RETURN round(CASE p_card_type
    WHEN 'standard' THEN least(p_level_discount, coalesce(member_corporate_discount(p_member_id), 1))
    WHEN 'voucher' THEN 1
    ELSE coalesce(p_fixed_discount, 1)
END, 3);

-- A card's status as it behaves now: past `expires_at` an active or frozen card is `expired`.
CREATE FUNCTION effective_card_status(p_status card_status, p_expires_at timestamptz) RETURNS card_status
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN p_status IN ('active', 'inactive') AND p_expires_at IS NOT NULL AND p_expires_at <= now()
            THEN 'expired'::card_status ELSE p_status END;
