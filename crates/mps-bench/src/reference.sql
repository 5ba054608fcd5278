-- The reference charge (issue 16): the bare minimum a stored-value payment does — lock the card,
-- check and debit its balance, insert one row into a table shaped like `transactions` (same
-- columns, constraints and indexes; no foreign keys), commit. Driven by pgbench beside the real
-- charge, it is the physical limit of this machine and these database settings.
CREATE TABLE IF NOT EXISTS bench_ref_transactions (LIKE transactions INCLUDING ALL);

CREATE OR REPLACE FUNCTION bench_ref_charge(p_card_id uuid, p_merchant_id uuid, p_amount numeric) RETURNS uuid
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_balance numeric(12, 2);
    v_id uuid;
BEGIN
    SELECT balance INTO v_balance FROM cards WHERE id = p_card_id FOR UPDATE;
    IF v_balance < p_amount THEN
        RAISE EXCEPTION 'insufficient balance';
    END IF;
    UPDATE cards SET balance = balance - p_amount WHERE id = p_card_id;
    -- The store column filled like a charge's (issue 18: a merchant transaction names its store;
    -- the table keeps that CHECK), with the merchant's id standing in: no foreign key to look it up.
    INSERT INTO bench_ref_transactions (tx_no, tx_type, card_id, merchant_id, raw_amount, final_amount, status,
                                        payment_method, actor_role, store_id)
    VALUES (next_tx_no('payment'), 'payment', p_card_id, p_merchant_id, p_amount, p_amount, 'completed', 'balance',
            'merchant', p_merchant_id)
    RETURNING id INTO v_id;
    RETURN v_id;
END $$;
