// The README's worked example, driven through a client generated from the server's own
// /openapi.json (openapi-typescript types + openapi-fetch): an admin creates a member and a
// merchant and credits the member's card; the member shows a QR code; the merchant charges it
// and refunds part of it; the member sees balance 80.00 and 20 points. Any deviation throws, so
// the process exits non-zero. Amounts stay decimal strings throughout: nothing goes through a float.
//
// Environment: MPS_API (base URL), MPS_ADMIN_EMAIL, MPS_ADMIN_PASSWORD (an existing admin).

import createClient from "openapi-fetch";

import type { paths } from "./schema.js";

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`walk-through: ${what}`);
}

/** The body of a successful answer, or an error naming the step and the server's envelope. */
function ok<T>(step: string, result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data === undefined) {
    throw new Error(`${step}: HTTP ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

const baseUrl = env("MPS_API");
const unique = `${Date.now()}`.slice(-9);

async function login(body: paths["/auth/login"]["post"]["requestBody"]["content"]["application/json"]) {
  const anonymous = createClient<paths>({ baseUrl });
  const answer = ok(`log in as ${body.role}`, await anonymous.POST("/auth/login", { body }));
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${answer.token}` } });
}

async function main(): Promise<void> {
  // 1. The admin logs in.
  const admin = await login({ role: "admin", identifier: env("MPS_ADMIN_EMAIL"), password: env("MPS_ADMIN_PASSWORD") });

  // 2. A member (with a standard card) and a merchant.
  const phone = `138${unique}`;
  const created = ok(
    "create the member",
    await admin.POST("/admin/members", { body: { name: "Ana", phone, password: "member-password-1" } }),
  );
  const cardId = created.card.id;
  const code = `SHOP${unique}`;
  ok(
    "create the merchant",
    await admin.POST("/admin/merchants", { body: { code, name: "Corner Shop", password: "merchant-password-1" } }),
  );

  // 3. Credit the card with 100.00 (payment method `manual`).
  ok(
    "credit the card",
    await admin.POST("/admin/cards/{id}/recharge", {
      params: { path: { id: cardId }, header: { "Idempotency-Key": `credit-${unique}` } },
      body: { amount: "100.00", reason: "welcome credit" },
    }),
  );

  // 4. The member logs in and shows a QR code.
  const member = await login({ role: "member", identifier: phone, password: "member-password-1" });
  const qr = ok("issue a QR code", await member.POST("/member/qr", { body: { card_id: cardId } }));

  // 5. The merchant (cashier "till-1") charges 25.00, then refunds 5.00 of it.
  const shop = await login({ role: "merchant", identifier: code, password: "merchant-password-1", operator: "till-1" });
  const chargeKey = `order-${unique}`;
  const charge = () =>
    shop.POST("/merchant/charge", {
      params: { header: { "Idempotency-Key": chargeKey } },
      body: { qr_plain: qr.qr_plain, amount: "25.00" },
    });
  const charged = ok("charge 25.00", await charge());
  check(charged.transaction.final_amount === "25.00", `charged ${charged.transaction.final_amount}, not 25.00`);
  const txNo = charged.transaction.tx_no;
  const refunded = ok(
    "refund 5.00",
    await shop.POST("/merchant/refund", {
      params: { header: { "Idempotency-Key": `refund-${unique}-1` } },
      body: { original_tx_no: txNo, amount: "5.00", reason: "one item returned" },
    }),
  );
  check(refunded.original.remaining_refundable === "20.00", "20.00 of the payment stays refundable");

  // Repeating the charge with the same key answers the original result and charges nothing more.
  const replay = await charge();
  check(replay.response.headers.get("Idempotent-Replayed") === "true", "a repeated key is a replay");
  check(ok("replay the charge", replay).transaction.tx_no === txNo, "the replay answers the original payment");

  // 6. The member sees the result: balance 80.00, and 20 points (25 earned, 5 reversed).
  const cards = ok("list the member's cards", await member.GET("/member/cards"));
  const card = cards.items.find((c) => c.id === cardId);
  check(card !== undefined, "the member's card is listed");
  check(card?.balance === "80.00", `balance is ${card?.balance}, not 80.00`);
  check(card?.points === 20, `points are ${card?.points}, not 20`);
  console.log(`walk-through: ok (card ${card?.card_no}: balance ${card?.balance}, ${card?.points} points)`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
