// The API shapes the console reads (SPEC §3 and /openapi.json); amounts are decimal strings.

export type Role = "member" | "merchant" | "admin";

export interface UserSummary {
  id: string;
  role: Role;
  name: string;
  permissions: string[];
  merchant_code?: string | null;
  operator?: string | null;
}

export interface LoginResponse {
  token: string;
  expires_at: string;
  user: UserSummary;
}

export interface Page<T> {
  items: T[];
  /** `total_count` is null unless the request asks for `count: "exact"` (and counting fits its budget). */
  pagination: { limit: number; offset: number; total_count: number | null; has_next: boolean; next_cursor?: string | null };
}

export interface Card {
  id: string;
  card_no: string;
  card_type: "standard" | "voucher" | "corporate";
  name: string;
  balance: string;
  points: number;
  level: number;
  discount: string;
  effective_discount: string;
  status: "active" | "inactive" | "lost" | "expired" | "closed";
  expires_at?: string | null;
  role?: string | null;
}

export interface AdminCard extends Card {
  stored_status: Card["status"];
  owner_member_id?: string | null;
  owner_member_no?: string | null;
  owner_name?: string | null;
  owner_phone?: string | null;
  binding_count: number;
}

export interface Transaction {
  id: string;
  tx_no: string;
  tx_type: "payment" | "refund" | "recharge";
  card_id: string;
  card_no: string;
  merchant_code?: string | null;
  operator?: string | null;
  raw_amount: string;
  discount_applied: string;
  final_amount: string;
  points_earned: number;
  status: string;
  payment_method: string;
  original_tx_no?: string | null;
  external_order_id?: string | null;
  refunded_total?: string | null;
  /** Not sent by the API yet: shown on receipts once it is (see docs/decisions.md). */
  balance_after?: string | null;
  created_at: string;
}

export interface ChargeResponse {
  transaction: Transaction;
  card: { card_no: string; card_type: string; level: number };
}

export interface RefundResponse {
  refund: Transaction;
  original: { tx_no: string; status: string; refunded_total: string; remaining_refundable: string };
}

export interface ValidatedQr {
  card_no: string;
  card_type: string;
  level: number;
  status: string;
  expires_at: string;
}

export interface QrResponse {
  qr_plain: string;
  expires_at: string;
  ttl_seconds: number;
  card: { card_no: string; card_type: string };
}

export interface DailySummary {
  date: string;
  summary: { payment_count: number; refund_count: number; payment_amount: string; refund_amount: string; net_amount: string };
  hourly: { hour: number; start: string; count: number; amount: string }[];
}

export interface Level {
  level: number;
  name: string;
  min_points: number;
  max_points?: number | null;
  discount: string;
}

export interface Member {
  id: string;
  member_no: string;
  name: string;
  phone?: string | null;
  email?: string | null;
  status: string;
  created_at: string;
}

export interface Merchant {
  id: string;
  code: string;
  name: string;
  contact?: string | null;
  status: string;
  created_at: string;
}

export interface Settlement {
  id: string;
  settlement_no: string;
  merchant_code: string;
  mode: string;
  period_start: string;
  period_end: string;
  payment_count: number;
  payment_amount: string;
  refund_count: number;
  refund_amount: string;
  topup_count: number;
  topup_amount: string;
  net_amount: string;
  status: "pending" | "settled" | "paid" | "failed";
}

export interface CountAmount {
  count: number;
  amount: string;
}

export interface Statistics {
  date: string;
  generated_at: string;
  members: { total: number; active: number; suspended: number };
  merchants: { total: number; active: number; suspended: number };
  cards: {
    total: number;
    active: number;
    inactive: number;
    lost: number;
    expired: number;
    closed: number;
    by_type: { standard: number; voucher: number; corporate: number };
  };
  today: { payments: CountAmount; refunds: CountAmount; recharges: CountAmount; qr_issued: number; new_members: number };
}

export interface AuditEvent {
  id: number;
  occurred_at: string;
  actor_id?: string | null;
  actor_role: string;
  action: string;
  object_type?: string | null;
  object_id?: string | null;
  context: unknown;
  request_id?: string | null;
}
