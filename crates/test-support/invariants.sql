-- The invariants of the books, one row per violation: (invariant, subject, detail).
-- Shared by the integration suite (`assert_books_balance`) and the fault suite, which runs it
-- after every scenario. An empty result means the books balance.
WITH books AS (
    SELECT c.id, c.card_no, c.balance,
           coalesce(sum(t.final_amount) FILTER (WHERE t.tx_type IN ('recharge', 'refund') AND t.status = 'completed'), 0)
         - coalesce(sum(t.final_amount) FILTER (WHERE t.tx_type = 'payment' AND t.status IN ('completed', 'refunded')), 0)
           AS expected
    FROM cards c
    LEFT JOIN transactions t ON t.card_id = c.id
    GROUP BY c.id
),
ledger AS (
    SELECT card_id, sum(delta) AS total FROM point_ledger GROUP BY card_id
),
refunds AS (
    SELECT original_tx_id, sum(final_amount) AS total, count(*) AS n
    FROM transactions WHERE tx_type = 'refund' AND status = 'completed' GROUP BY original_tx_id
),
-- A voucher's initial balance is written with the card and audited by its CREATE_CARD event,
-- which names the transaction, rather than by a RECHARGE event of its own.
issue_credits AS (
    SELECT context ->> 'initial_tx_no' AS tx_no, count(*) AS n
    FROM audit_events WHERE action = 'CREATE_CARD' AND context ->> 'initial_tx_no' IS NOT NULL
    GROUP BY 1
),
-- Balance chain (issue 19): each movement's balance before it (balance_after − its signed amount)
-- is the balance after another movement of the card, or 0 for the first, and the last one's after
-- is the card's balance. Checked without an order — concurrent movements and online recharges
-- (numbered at order time, applied at confirmation) have no order key — as a path's degree
-- condition: per card and value, (movements leaving it) + [it is the card's balance] =
-- (movements arriving at it) + [it is 0]. A wrong balance_after leaves an unmatched value.
balance_moves AS (
    SELECT card_id, tx_no, balance_after AS after,
           balance_after - CASE WHEN tx_type = 'payment' THEN -final_amount ELSE final_amount END AS before
    FROM transactions WHERE balance_after IS NOT NULL
),
balance_chain AS (
    SELECT card_id, value, sum(leaving) AS leaving, sum(arriving) AS arriving
    FROM (SELECT card_id, before AS value, 1 AS leaving, 0 AS arriving FROM balance_moves
          UNION ALL SELECT card_id, after, 0, 1 FROM balance_moves
          UNION ALL SELECT id, balance, 1, 0 FROM cards WHERE id IN (SELECT card_id FROM balance_moves)
          UNION ALL SELECT id, 0, 0, 1 FROM cards WHERE id IN (SELECT card_id FROM balance_moves)) AS ends
    GROUP BY card_id, value
    HAVING sum(leaving) <> sum(arriving)
),
-- Points chain: ledger rows are numbered while their card is locked, so per card the id order is
-- the order they happened in: previous points_after + delta = this points_after, from 0.
points_chain AS (
    SELECT card_id, id, delta, points_after,
           coalesce(lag(points_after) OVER (PARTITION BY card_id ORDER BY id), 0) AS previous
    FROM point_ledger
),
-- How many audit rows each transaction should have, per action.
expected_audit AS (
    SELECT t.id, t.tx_no, a.action,
           CASE a.action
               WHEN 'PAYMENT' THEN (t.tx_type = 'payment')::int
               WHEN 'REFUND' THEN (t.tx_type = 'refund')::int
               WHEN 'RECHARGE' THEN (t.tx_type = 'recharge' AND t.status = 'completed' AND i.tx_no IS NULL)::int
               WHEN 'RECHARGE_ORDER' THEN (t.tx_type = 'recharge' AND t.payment_method IN ('wechat', 'alipay', 'bank'))::int
           END AS expected
    FROM transactions t
    LEFT JOIN issue_credits i ON i.tx_no = t.tx_no
    CROSS JOIN (VALUES ('PAYMENT'), ('REFUND'), ('RECHARGE'), ('RECHARGE_ORDER')) AS a (action)
),
actual_audit AS (
    SELECT object_id, action, count(*) AS n
    FROM audit_events
    WHERE object_type = 'transaction' AND action IN ('PAYMENT', 'REFUND', 'RECHARGE', 'RECHARGE_ORDER')
    GROUP BY object_id, action
),
-- A store's quarter-hour aggregates (issue 15) against the transactions they count.
activity_raw AS (
    SELECT t.merchant_id, t.store_id, date_bin('15 minutes', t.created_at, '2000-01-01T00:00:00Z') AS bucket, k.kind,
           count(*) AS n, sum(t.final_amount) AS amount
    FROM transactions t
    CROSS JOIN LATERAL (SELECT CASE
        WHEN t.tx_type = 'payment' AND t.status IN ('completed', 'refunded') THEN 'payment'
        WHEN t.tx_type = 'refund' AND t.status = 'completed' THEN 'refund'
        WHEN t.tx_type = 'recharge' AND t.payment_method = 'cash' AND t.status = 'completed' THEN 'topup'
    END AS kind) k
    WHERE t.merchant_id IS NOT NULL AND k.kind IS NOT NULL
    GROUP BY 1, 2, 3, 4
),
activity_kept AS (
    SELECT merchant_id, store_id, bucket, kind, sum(count) AS n, sum(amount) AS amount
    FROM merchant_activity GROUP BY 1, 2, 3, 4
)
SELECT 'balance = completed credits - completed debits' AS invariant, card_no AS subject,
       format('balance %s, books say %s', balance, expected) AS detail
FROM books WHERE balance <> expected
UNION ALL
SELECT 'no negative balance or points', card_no, format('balance %s, points %s', balance, points)
FROM cards WHERE balance < 0 OR points < 0
UNION ALL
SELECT 'balance_after chains: previous after ± amount = this after', c.card_no,
       format('balance %s is left by %s movements and reached by %s (counting the start at 0 and the card''s balance)',
              b.value, b.leaving, b.arriving)
FROM balance_chain b JOIN cards c ON c.id = b.card_id
UNION ALL
SELECT 'points_after chains: previous after + delta = this after', c.card_no,
       format('ledger row %s: %s %s → %s', p.id, p.previous, p.delta, p.points_after)
FROM points_chain p JOIN cards c ON c.id = p.card_id
WHERE p.previous + p.delta <> p.points_after
UNION ALL
SELECT 'points = sum of the points ledger', c.card_no, format('points %s, ledger %s', c.points, coalesce(l.total, 0))
FROM cards c LEFT JOIN ledger l ON l.card_id = c.id
WHERE c.points <> coalesce(l.total, 0)
UNION ALL
SELECT 'refunds never exceed their payment and match refunded_total', p.tx_no,
       format('final %s, refunds %s (%s), refunded_total %s, status %s',
              p.final_amount, coalesce(r.total, 0), coalesce(r.n, 0), p.refunded_total, p.status)
FROM transactions p LEFT JOIN refunds r ON r.original_tx_id = p.id
WHERE p.tx_type = 'payment'
  AND (coalesce(r.total, 0) > p.final_amount
       OR coalesce(r.total, 0) <> p.refunded_total
       OR (p.status = 'refunded') <> (p.refunded_total = p.final_amount))
UNION ALL
SELECT 'one audit event per mutation', e.tx_no,
       format('%s audit rows of %s, expected %s', coalesce(a.n, 0), e.action, e.expected)
FROM expected_audit e LEFT JOIN actual_audit a ON a.object_id = e.id::text AND a.action = e.action
WHERE coalesce(a.n, 0) <> e.expected
UNION ALL
SELECT 'a voucher issue credit is named by one CREATE_CARD event', i.tx_no, format('%s CREATE_CARD events name it', i.n)
FROM issue_credits i WHERE i.n <> 1 OR NOT EXISTS (SELECT 1 FROM transactions t WHERE t.tx_no = i.tx_no)
UNION ALL
SELECT 'no audit event without its effect', a.object_id, format('%s rows of %s name no transaction', a.n, a.action)
FROM actual_audit a
WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.id::text = a.object_id)
UNION ALL
SELECT 'one PAYMENT ledger row per payment that earned points', t.tx_no,
       format('earned %s, ledger rows %s', t.points_earned,
              (SELECT count(*) FROM point_ledger l WHERE l.tx_id = t.id AND l.reason = 'payment'))
FROM transactions t
WHERE t.tx_type = 'payment'
  AND (SELECT count(*) FROM point_ledger l WHERE l.tx_id = t.id AND l.reason = 'payment' AND l.delta = t.points_earned)
      <> (t.points_earned > 0)::int
UNION ALL
SELECT 'each payment consumed exactly one QR token', t.tx_no,
       format('%s QR issues used by it', (SELECT count(*) FROM qr_issues q WHERE q.tx_id = t.id AND q.end_reason = 'used'))
FROM transactions t
WHERE t.tx_type = 'payment'
  AND (SELECT count(*) FROM qr_issues q WHERE q.tx_id = t.id AND q.end_reason = 'used') <> 1
UNION ALL
SELECT 'one QR_ISSUE audit event per QR issued', c.card_no,
       format('%s issues, %s QR_ISSUE rows', coalesce(q.n, 0), coalesce(a.n, 0))
FROM cards c
LEFT JOIN (SELECT card_id, count(*) AS n FROM qr_issues GROUP BY card_id) q ON q.card_id = c.id
LEFT JOIN (SELECT object_id, count(*) AS n FROM audit_events WHERE action = 'QR_ISSUE' GROUP BY object_id) a
       ON a.object_id = c.id::text
WHERE coalesce(q.n, 0) <> coalesce(a.n, 0)
UNION ALL
SELECT 'one LOGIN_SUCCESS audit event per session', s.id::text, format('%s LOGIN_SUCCESS rows', coalesce(a.n, 0))
FROM sessions s
LEFT JOIN (SELECT context ->> 'session_id' AS session_id, count(*) AS n
           FROM audit_events WHERE action = 'LOGIN_SUCCESS' GROUP BY 1) a ON a.session_id = s.id::text
WHERE coalesce(a.n, 0) <> 1
UNION ALL
SELECT 'an idempotency key executes once', format('%s %s %s', actor_id, tx_type, idempotency_key),
       format('%s transactions: %s', count(*), string_agg(tx_no, ', ' ORDER BY tx_no))
FROM transactions WHERE idempotency_key IS NOT NULL
GROUP BY actor_id, tx_type, idempotency_key HAVING count(*) > 1
UNION ALL
SELECT 'no idempotency record is left pending', format('%s %s %s', actor_id, operation, key), outcome::text
FROM idempotency_keys WHERE outcome ? 'pending'
UNION ALL
SELECT 'merchant aggregates = the transactions they count', coalesce(r.merchant_id, k.merchant_id)::text,
       format('store %s, %s at %s: kept %s / %s, transactions %s / %s', coalesce(r.store_id, k.store_id), coalesce(r.kind, k.kind), coalesce(r.bucket, k.bucket), coalesce(k.n, 0), coalesce(k.amount, 0), coalesce(r.n, 0),
              coalesce(r.amount, 0))
FROM activity_raw r
FULL JOIN activity_kept k ON k.merchant_id = r.merchant_id AND k.store_id = r.store_id AND k.bucket = r.bucket AND k.kind = r.kind
WHERE coalesce(r.n, 0) <> coalesce(k.n, 0) OR coalesce(r.amount, 0) <> coalesce(k.amount, 0)
UNION ALL
-- Issue 15: the counters the statistics read (migration 0016) equal the rows they count.
SELECT 'status counters = the rows they count', format('%s %s %s', coalesce(r.subject, k.subject), coalesce(r.status, k.status), coalesce(r.card_type, k.card_type)),
       format('kept %s, rows %s', coalesce(k.n, 0), coalesce(r.n, 0))
FROM (SELECT 'member' AS subject, status::text AS status, '' AS card_type, count(*) AS n FROM members GROUP BY status
      UNION ALL
      SELECT 'merchant', status::text, '', count(*) FROM merchants GROUP BY status
      UNION ALL
      SELECT 'card', status::text, card_type::text, count(*) FROM cards GROUP BY status, card_type) r
FULL JOIN (SELECT subject, status, card_type, sum(n) AS n FROM status_counts GROUP BY 1, 2, 3) k
       ON k.subject = r.subject AND k.status = r.status AND k.card_type = r.card_type
WHERE coalesce(r.n, 0) <> coalesce(k.n, 0)
UNION ALL
-- References on the payment path that are not foreign keys (migration 0010: their parents are
-- never deleted), checked here instead.
SELECT 'a transaction names an existing merchant and a store of it', t.tx_no,
       format('merchant %s, store %s', t.merchant_id, t.store_id)
FROM transactions t
WHERE t.merchant_id IS NOT NULL
  AND (NOT EXISTS (SELECT 1 FROM merchants m WHERE m.id = t.merchant_id)
       OR (t.store_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM stores s WHERE s.id = t.store_id AND s.merchant_id = t.merchant_id)))
UNION ALL
-- Issue 18: the POS key that moved the money is a key of the transaction's merchant, and a
-- transaction is made by a key or by a staff member's session, never both.
SELECT 'a transaction names a POS key of its merchant, or a staff member, not both', t.tx_no,
       format('merchant %s, pos key %s, staff %s', t.merchant_id, t.pos_key_id, t.staff_id)
FROM transactions t
WHERE t.pos_key_id IS NOT NULL
  AND (t.staff_id IS NOT NULL
       OR NOT EXISTS (SELECT 1 FROM pos_keys k WHERE k.id = t.pos_key_id AND k.merchant_id = t.merchant_id))
UNION ALL
SELECT 'an event names an existing merchant', e.id::text, e.merchant_id::text
FROM events e
WHERE e.merchant_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM merchants m WHERE m.id = e.merchant_id)
UNION ALL
-- Issue 16, fourth pass (migration 0018): a delivery's event is a row of `events` or a committed
-- money movement (`event_log`), and the endpoint it goes to belongs to the event's merchant (the
-- programme's endpoints to the events of no merchant).
SELECT 'a webhook delivery names an event of its endpoint''s owner', d.id::text, d.event_id::text
FROM webhook_deliveries d
JOIN webhook_endpoints w ON w.id = d.endpoint_id
WHERE NOT EXISTS (SELECT 1 FROM event_log e
                  WHERE e.id = d.event_id AND e.merchant_id IS NOT DISTINCT FROM w.merchant_id)
UNION ALL
SELECT 'a QR issue names an existing member', q.id::text, q.member_id::text
FROM qr_issues q WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.id = q.member_id)
UNION ALL
SELECT 'a points ledger row names an existing transaction', l.id::text, l.tx_id::text
FROM point_ledger l
WHERE l.tx_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.id = l.tx_id)
ORDER BY 1, 2
