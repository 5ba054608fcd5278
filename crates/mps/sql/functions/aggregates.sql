-- Aggregates at volume (issue 15): a merchant's payments, refunds and counter top-ups per store
-- and 15-minute UTC bucket in `merchant_activity`, kept by the triggers of migration 0008 in the same
-- transaction as the movement, and the period totals read from them.

-- Which count a transaction belongs to: 'payment' (completed or since refunded: what members
-- paid), 'refund' (completed), 'topup' (a completed counter top-up, cash), or NULL. The one
-- definition `store_period_totals` (and so `merchant_period_totals`) counts with.
CREATE OR REPLACE FUNCTION merchant_activity_kind(p_tx transactions) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_tx.merchant_id IS NULL THEN
        RETURN NULL;
    ELSIF p_tx.tx_type = 'payment' AND p_tx.status IN ('completed', 'refunded') THEN
        RETURN 'payment';
    ELSIF p_tx.tx_type = 'refund' AND p_tx.status = 'completed' THEN
        RETURN 'refund';
    ELSIF p_tx.tx_type = 'recharge' AND p_tx.payment_method = 'cash' AND p_tx.status = 'completed' THEN
        RETURN 'topup';
    END IF;
    RETURN NULL;
END $$;

-- The bucket of an instant: the quarter hour (UTC) it falls in.
CREATE OR REPLACE FUNCTION activity_bucket(p_at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp
AS $$ SELECT date_bin('15 minutes', p_at, '2000-01-01T00:00:00Z'::timestamptz) $$;

-- Counts a transaction into (p_sign = 1) or out of (-1) its store's bucket; called by the
-- triggers on `transactions`, and by `charge` for the payment it writes (the insert trigger
-- leaves payments to it: migration 0010).
CREATE OR REPLACE FUNCTION merchant_activity_add(p_tx transactions, p_sign int) RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_kind text := merchant_activity_kind(p_tx);
BEGIN
    IF v_kind IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO merchant_activity AS a (merchant_id, store_id, bucket, kind, shard, count, amount)
    VALUES (p_tx.merchant_id, p_tx.store_id,
            date_bin('15 minutes', p_tx.created_at, '2000-01-01T00:00:00Z'::timestamptz), v_kind,
            pg_backend_pid() % 8, p_sign, p_sign * p_tx.final_amount)
    ON CONFLICT (merchant_id, store_id, bucket, kind, shard)
    DO UPDATE SET count = a.count + EXCLUDED.count, amount = a.amount + EXCLUDED.amount;
END $$;

-- A store's (or, p_store_id NULL, the whole merchant's) totals over [p_start, p_end): whole
-- buckets from `merchant_activity`, and the parts of the period that do not fill a bucket (a
-- `realtime` period's ends) from the transactions themselves, one range of the merchant's index
-- each, so the work is bounded by the period's buckets plus at most two quarter hours of rows.
CREATE OR REPLACE FUNCTION merchant_activity_totals(p_merchant_id uuid, p_store_id uuid, p_start timestamptz,
                                                    p_end timestamptz,
                                                    OUT payment_count bigint, OUT payment_amount numeric,
                                                    OUT refund_count bigint, OUT refund_amount numeric,
                                                    OUT topup_count bigint, OUT topup_amount numeric)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    -- The whole buckets inside the period: [v_from, v_to).
    v_from timestamptz := activity_bucket(p_start);
    v_to timestamptz := activity_bucket(p_end);
BEGIN
    IF v_from < p_start THEN
        v_from := v_from + interval '15 minutes';
    END IF;
    IF v_to < v_from THEN
        v_from := p_end;
        v_to := p_end;
    END IF;
    WITH counted AS (
        SELECT a.kind, a.count, a.amount
        FROM merchant_activity a
        WHERE a.merchant_id = p_merchant_id AND a.bucket >= v_from AND a.bucket < v_to
          AND (p_store_id IS NULL OR a.store_id = p_store_id)
        UNION ALL
        SELECT merchant_activity_kind(t), 1, t.final_amount
        FROM transactions t
        WHERE t.merchant_id = p_merchant_id AND t.created_at >= p_start AND t.created_at < least(v_from, p_end)
          AND (p_store_id IS NULL OR t.store_id = p_store_id)
        UNION ALL
        SELECT merchant_activity_kind(t), 1, t.final_amount
        FROM transactions t
        WHERE t.merchant_id = p_merchant_id AND t.created_at >= greatest(v_to, p_start) AND t.created_at < p_end
          AND (p_store_id IS NULL OR t.store_id = p_store_id))
    SELECT coalesce(sum(c.count) FILTER (WHERE c.kind = 'payment'), 0),
           coalesce(sum(c.amount) FILTER (WHERE c.kind = 'payment'), 0),
           coalesce(sum(c.count) FILTER (WHERE c.kind = 'refund'), 0),
           coalesce(sum(c.amount) FILTER (WHERE c.kind = 'refund'), 0),
           coalesce(sum(c.count) FILTER (WHERE c.kind = 'topup'), 0),
           coalesce(sum(c.amount) FILTER (WHERE c.kind = 'topup'), 0)
    INTO payment_count, payment_amount, refund_count, refund_amount, topup_count, topup_amount
    FROM counted c;
END $$;

-- Every merchant's payments and refunds over [p_start, p_end), by kind: from the buckets when the
-- period is made of whole buckets (a local day is, in every time zone in use), else from the rows.
CREATE OR REPLACE FUNCTION all_merchants_activity(p_start timestamptz, p_end timestamptz)
RETURNS TABLE (kind text, count bigint, amount numeric)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    IF activity_bucket(p_start) = p_start AND activity_bucket(p_end) = p_end THEN
        RETURN QUERY
            SELECT a.kind, sum(a.count)::bigint, sum(a.amount)
            FROM merchant_activity a
            WHERE a.bucket >= p_start AND a.bucket < p_end
            GROUP BY a.kind;
    ELSE
        RETURN QUERY
            SELECT k.kind, count(*), sum(t.final_amount)
            FROM transactions t CROSS JOIN LATERAL (SELECT merchant_activity_kind(t) AS kind) k
            WHERE t.created_at >= p_start AND t.created_at < p_end AND k.kind IS NOT NULL
            GROUP BY k.kind;
    END IF;
END $$;
