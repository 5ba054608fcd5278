// Money in the browser: the API's decimal strings are shown as they are. Where the console must
// add or subtract (a discount's saving, what is left to refund) it works on whole cents held in
// BigInt, parsed from the text, never through a float.

const API_MONEY = /^(-?)(\d+)\.(\d{2})$/;
const INPUT_AMOUNT = /^(\d{1,10})(?:\.(\d{1,2}))?$/;

/** Whole cents of an API amount such as `"284.05"` or `"-12.50"`. */
export function toCents(text: string): bigint {
  const match = API_MONEY.exec(text);
  if (!match) throw new Error(`not an amount with two decimals: ${text}`);
  const cents = BigInt(match[2]) * 100n + BigInt(match[3]);
  return match[1] === "-" ? -cents : cents;
}

/** The API's spelling of an amount of cents: two decimals, a minus sign when negative. */
export function formatCents(cents: bigint): string {
  const sign = cents < 0n ? "-" : "";
  const magnitude = cents < 0n ? -cents : cents;
  const units = magnitude / 100n;
  const rest = (magnitude % 100n).toString().padStart(2, "0");
  return `${sign}${units}.${rest}`;
}

/** `a − b` of two API amounts, as an API amount. */
export function subtract(a: string, b: string): string {
  return formatCents(toCents(a) - toCents(b));
}

/** The outcome of reading an amount a person typed. */
export type AmountInput = { ok: true; amount: string } | { ok: false; problem: string };

/**
 * Reads an amount typed by a person (`12`, `12.5`, `12.50`) into the API's two-decimal text.
 * More than two decimals, signs, exponents, separators and zero are refused with a sentence;
 * the server still applies its own rules (the maximum, above all).
 */
export function readAmount(typed: string): AmountInput {
  const text = typed.trim();
  if (text === "") return { ok: false, problem: "Enter an amount." };
  const match = INPUT_AMOUNT.exec(text);
  if (!match) return { ok: false, problem: "Enter an amount like 12.50: digits, at most two after the point." };
  const cents = BigInt(match[1]) * 100n + BigInt((match[2] ?? "").padEnd(2, "0"));
  if (cents === 0n) return { ok: false, problem: "The amount must be more than 0.00." };
  return { ok: true, amount: formatCents(cents) };
}

/** Whether an API amount is zero. */
export function isZero(text: string): boolean {
  return toCents(text) === 0n;
}

/** The share of `value` in `max` (0–1) for drawing a bar; geometry only, never money. */
export function share(value: bigint, max: bigint): number {
  if (max <= 0n || value <= 0n) return 0;
  return Number((value * 10000n) / max) / 10000;
}
