// The member's payment code: drawn large, counted down, renewed before it expires, and closed
// when a payment uses it.

import qrcode from "qrcode-generator";
import { type Api, ApiError } from "../lib/api";
import { h, replace } from "../lib/dom";
import type { Card, Page, QrResponse, Transaction } from "../lib/types";
import { clearMessage, messageArea, showError, showNotice } from "../lib/ui";

const QUIET_MODULES = 4;
const PIXELS_PER_MODULE = 8;
/** The code is kept fresh for at most this long after the member asked for it. */
const SHOW_FOR_MS = 10 * 60_000;
/** Every this many seconds the page asks whether a payment used the code. */
const POLL_EVERY_TICKS = 3;

/** Draws `text` as a QR code with its quiet zone, black on white, one canvas pixel grid. */
export function drawCode(canvas: HTMLCanvasElement, text: string): void {
  const code = qrcode(0, "M");
  code.addData(text, "Byte");
  code.make();
  const modules = code.getModuleCount();
  const size = (modules + 2 * QUIET_MODULES) * PIXELS_PER_MODULE;
  canvas.width = size;
  canvas.height = size;
  const context = canvas.getContext("2d");
  if (!context) return;
  context.fillStyle = "#fff";
  context.fillRect(0, 0, size, size);
  context.fillStyle = "#000";
  for (let row = 0; row < modules; row++) {
    for (let col = 0; col < modules; col++) {
      if (code.isDark(row, col)) {
        context.fillRect((col + QUIET_MODULES) * PIXELS_PER_MODULE, (row + QUIET_MODULES) * PIXELS_PER_MODULE, PIXELS_PER_MODULE, PIXELS_PER_MODULE);
      }
    }
  }
}

/** Renew when a quarter of the code's life is left, and at least 15 s before it expires for long codes. */
export function renewalMarginMs(ttlSeconds: number): number {
  return Math.min(15, ttlSeconds / 4) * 1000;
}

function minutesSeconds(ms: number): string {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

/** The payment-code panel of one member page. */
export class PaymentCode {
  readonly element: HTMLElement;
  private readonly canvas = h("canvas", { id: "code-canvas", class: "qr", "aria-label": "Payment QR code" });
  private readonly caption = h("p", { class: "code-card", id: "code-card" });
  private readonly countdown = h("p", { class: "countdown", id: "countdown", "aria-live": "off" });
  private readonly text = h("code", { id: "code-text" });
  private readonly message = messageArea("code-message");
  private readonly body = h("div", { class: "code-body", hidden: true }, this.canvas, this.caption, this.countdown,
    h("details", null, h("summary", null, "Code as text"), this.text),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "renew-code", onclick: () => void this.renew() }, "New code now"),
      h("button", { type: "button", id: "hide-code", onclick: () => void this.hide("Code hidden.") }, "Hide code")));
  private card: Card | null = null;
  private shownAt = 0;
  private expiresAt = 0;
  private renewAt = 0;
  private renewing = false;
  private ticks = 0;
  private timer: number | undefined;
  private lastTx: string | null = null;

  constructor(private readonly api: Api, private readonly paid: (tx: Transaction) => void) {
    this.element = h("section", { class: "panel code-panel", id: "payment-code", "aria-labelledby": "code-heading" },
      h("h2", { id: "code-heading", tabindex: "-1" }, "Payment code"),
      h("p", { class: "hint" }, "Show this code at the till. It works once and renews itself before it expires."),
      this.body, this.message);
  }

  /** Shows a fresh code for `card` (replacing any code shown before, which is revoked). */
  async show(card: Card): Promise<void> {
    if (this.card && this.card.id !== card.id) await this.close();
    this.stopTimer();
    this.card = card;
    this.shownAt = Date.now();
    clearMessage(this.message);
    this.lastTx = (await this.newest().catch(() => null))?.tx_no ?? null;
    if (await this.renew()) {
      this.timer = window.setInterval(() => void this.tick(), 1000);
      this.element.querySelector<HTMLElement>("h2")?.focus();
    }
  }

  /** Hides the code and revokes it, so a photo of it is worth nothing. */
  async hide(reason: string): Promise<void> {
    showNotice(this.message, reason);
    await this.close();
  }

  /** Stops showing and renewing the code, and revokes it (on sign-out too). */
  async close(): Promise<void> {
    const card = this.card;
    this.card = null;
    this.stopTimer();
    this.body.hidden = true;
    if (card) await this.api.delete(`/member/qr/${card.id}`).catch(() => undefined);
  }

  private stopTimer(): void {
    window.clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Issues a new code (which kills the previous one); false when none could be had. */
  private async renew(): Promise<boolean> {
    const card = this.card;
    if (!card || this.renewing) return false;
    this.renewing = true;
    try {
      const code = await this.api.request<QrResponse>("POST", "/member/qr", { body: { card_id: card.id } });
      if (this.card !== card) {
        // Closed while the new code was on its way: revoke it rather than show it.
        await this.api.delete(`/member/qr/${card.id}`).catch(() => undefined);
        return false;
      }
      // Timed from when the answer arrived, by this device's clock: a skewed clock cannot make a
      // live code look expired, or a dead one live.
      const received = Date.now();
      this.expiresAt = received + code.data.ttl_seconds * 1000;
      this.renewAt = this.expiresAt - renewalMarginMs(code.data.ttl_seconds);
      drawCode(this.canvas, code.data.qr_plain);
      this.canvas.classList.remove("expired");
      replace(this.text, code.data.qr_plain);
      replace(this.caption, `${code.data.card.card_no} · ${code.data.card.card_type}`);
      this.body.hidden = false;
      this.updateCountdown(received);
      clearMessage(this.message);
      return true;
    } catch (error) {
      showError(this.message, error);
      if (!(error instanceof ApiError && error.outcomeUnknown)) {
        this.stopTimer();
        this.body.hidden = true;
      }
      return false;
    } finally {
      this.renewing = false;
    }
  }

  private updateCountdown(now: number): void {
    const left = this.expiresAt - now;
    if (left <= 0) {
      this.canvas.classList.add("expired");
      replace(this.countdown, "Expired: getting a new code…");
    } else {
      replace(this.countdown, `Valid for ${minutesSeconds(left)} · renews in ${minutesSeconds(this.renewAt - now)}`);
    }
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    if (now - this.shownAt > SHOW_FOR_MS) return this.hide("Code hidden after 10 minutes. Show it again at the till.");
    this.updateCountdown(now);
    if (now >= this.renewAt) await this.renew();
    this.ticks += 1;
    if (this.ticks % POLL_EVERY_TICKS === 0) await this.checkPaid();
  }

  private async newest(): Promise<Transaction | null> {
    if (!this.card) return null;
    const page = await this.api.get<Page<Transaction>>("/member/transactions", { card_id: this.card.id, limit: 1 });
    return page.items[0] ?? null;
  }

  /** A payment newer than the code means the code was used: say so and stop. */
  private async checkPaid(): Promise<void> {
    const newest = await this.newest().catch(() => null);
    if (!newest || newest.tx_no === this.lastTx) return;
    this.lastTx = newest.tx_no;
    if (newest.tx_type !== "payment") return;
    this.stopTimer();
    this.body.hidden = true;
    showNotice(this.message, h("strong", null, `Paid ${newest.final_amount}`), ` at ${newest.merchant_code ?? "a merchant"} (${newest.tx_no}).`);
    this.paid(newest);
  }
}
