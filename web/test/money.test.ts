/// <reference types="node" />
// Money in the browser is exact: cents in BigInt, parsed from and printed as decimal text.

import assert from "node:assert/strict";
import { test } from "node:test";
import { formatCents, readAmount, share, subtract, toCents } from "../src/lib/money";

test("API amounts become whole cents and back without changing a digit", () => {
  for (const text of ["0.00", "0.01", "284.05", "-12.50", "50000.00", "99999999999999.99"]) {
    assert.equal(formatCents(toCents(text)), text, `round trip of ${text}`);
  }
  assert.equal(toCents("0.10") + toCents("0.20"), toCents("0.30"), "0.1 + 0.2 is 0.3 in cents");
});

test("text that is not a two-decimal amount is refused, not guessed", () => {
  for (const text of ["1", "1.5", "1.005", "1e3", " 1.00", "1,00", "", "--1.00"]) {
    assert.throws(() => toCents(text), `${JSON.stringify(text)} should be refused`);
  }
});

test("a subtraction of amounts is exact, including to a negative result", () => {
  assert.equal(subtract("25.00", "23.75"), "1.25");
  assert.equal(subtract("0.30", "0.10"), "0.20");
  assert.equal(subtract("5.00", "12.50"), "-7.50");
  assert.equal(subtract("10000000000000.01", "0.02"), "9999999999999.99", "where a float of the text is off");
});

test("amounts typed by a person are read into the API's spelling", () => {
  assert.deepEqual(readAmount("12"), { ok: true, amount: "12.00" });
  assert.deepEqual(readAmount(" 12.5 "), { ok: true, amount: "12.50" });
  assert.deepEqual(readAmount("0.01"), { ok: true, amount: "0.01" });
  assert.deepEqual(readAmount("007.10"), { ok: true, amount: "7.10" });
});

test("typed amounts with a third decimal, a sign, an exponent or no value are refused with a reason", () => {
  for (const typed of ["12.345", "-1", "+1", "1e2", "1,50", "0", "0.00", "", "  ", "12.", ".5", "abc", "12345678901"]) {
    const result = readAmount(typed);
    assert.equal(result.ok, false, `${JSON.stringify(typed)} should be refused`);
    if (!result.ok) assert.ok(result.problem.length > 0, "a refusal says why");
  }
});

test("a bar's share of the largest is between 0 and 1 and never negative", () => {
  assert.equal(share(0n, 0n), 0);
  assert.equal(share(50n, 100n), 0.5);
  assert.equal(share(100n, 100n), 1);
  assert.equal(share(-5n, 100n), 0);
});
