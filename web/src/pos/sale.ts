// A sale at the till: the member's code (camera or typed), the amount, one charge under one
// Idempotency-Key, and the receipt.

import { type Api, OnceOnly, type Reply } from "../lib/api";
import { fieldValue, h, replace, setBusy, when } from "../lib/dom";
import { readAmount, subtract } from "../lib/money";
import type { ChargeResponse, ValidatedQr } from "../lib/types";
import { badge, clearMessage, field, input, messageArea, pairs, retryBox, section, showError, showNotice } from "../lib/ui";
import { Scanner } from "./scanner";

/**
 * The sale panel; `charged` runs after every completed charge (to refresh the day's figures),
 * `onEnd` takes what to undo at sign-out (the camera).
 */
export function salePanel(api: Api, charged: () => void, onEnd: (cleanup: () => void) => void): HTMLElement {
  const charge = new OnceOnly<ChargeResponse>(api, "/merchant/charge");
  const codeInput = input("qr", { id: "qr-input", required: true, spellcheck: "false", "aria-describedby": "card-check" });
  const amountInput = input("amount", { id: "amount", inputmode: "decimal", required: true, placeholder: "0.00" });
  const video = h("video", { id: "scanner-video", muted: true, playsinline: true });
  const scannerStatus = h("p", { id: "scanner-status", role: "status" });
  const scannerBox = h("div", { class: "scanner", id: "scanner", hidden: true }, video, scannerStatus,
    h("button", { type: "button", onclick: () => stopScan() }, "Stop camera"));
  const scanner = new Scanner(video);
  onEnd(() => scanner.stop());
  const cardCheck = h("div", { id: "card-check", class: "card-check", "aria-live": "polite" });
  const message = messageArea("sale-message");
  const unknown = retryBox("sale-unknown", "charge", () => void submit(), () => reset());
  const receipt = h("div", { id: "receipt" });
  const form = h("form", { id: "sale-form", onsubmit: (event: SubmitEvent) => { event.preventDefault(); void submit(); } },
    h("div", { class: "row" },
      field("Member's code", codeInput, "Scan it, or type the text under the member's QR code."),
      h("button", { type: "button", id: "scan-button", onclick: () => void startScan() }, "Scan with camera")),
    scannerBox,
    cardCheck,
    field("Amount", amountInput),
    field("Order number (optional)", input("order", { maxlength: "64" })),
    h("button", { type: "submit", class: "primary", id: "charge-button" }, "Charge"),
    message);

  codeInput.addEventListener("change", () => void checkCode());

  async function startScan(): Promise<void> {
    scanner.stop();
    scannerBox.hidden = false;
    replace(scannerStatus, "Opening the camera…");
    try {
      const decoder = await scanner.start((text) => {
        codeInput.value = text;
        stopScan();
        void checkCode();
        amountInput.focus();
      });
      scannerBox.setAttribute("data-decoder", decoder);
      replace(scannerStatus, `Hold the member's code in front of the camera (${decoder === "jsQR" ? "built-in decoder" : "BarcodeDetector"}).`);
    } catch (error) {
      scanner.stop();
      replace(scannerStatus, `The camera could not be opened: ${error instanceof Error ? error.message : String(error)}. Type the code instead.`);
    }
  }

  function stopScan(): void {
    scanner.stop();
    scannerBox.hidden = true;
  }

  async function checkCode(): Promise<void> {
    const code = codeInput.value.trim();
    replace(cardCheck);
    if (!code) return;
    try {
      const card = await api.post<ValidatedQr>("/merchant/qr/validate", { qr_plain: code });
      replace(cardCheck, h("span", null, `Card ${card.card_no} · ${card.card_type} · level ${card.level} `), badge(card.status));
    } catch (error) {
      showError(cardCheck, error);
    }
  }

  async function submit(): Promise<void> {
    clearMessage(message);
    const amount = readAmount(amountInput.value);
    if (!charge.unresolved && !amount.ok) {
      showError(message, new Error(amount.problem));
      amountInput.focus();
      return;
    }
    setBusy(form, true);
    unknown.hidden = true;
    showNotice(message, "Charging…");
    try {
      const reply = await charge.send(() => ({
        qr_plain: fieldValue(form, "qr"),
        amount: amount.ok ? amount.amount : "",
        external_order_id: fieldValue(form, "order") || undefined,
      }));
      showReceipt(reply);
      charged();
    } catch (error) {
      showError(message, error);
      if (charge.unresolved) {
        unknown.hidden = false;
        unknown.querySelector<HTMLButtonElement>("button")?.focus();
      } else {
        setBusy(form, false);
      }
    }
  }

  function showReceipt(reply: Reply<ChargeResponse>): void {
    const { transaction: tx, card } = reply.data;
    unknown.hidden = true;
    if (reply.replayed) {
      showNotice(message, h("strong", null, "Already charged."), " This sale went through on an earlier attempt; nothing was charged again.");
    } else {
      showNotice(message, h("strong", null, "Charged."));
    }
    const saving = subtract(tx.raw_amount, tx.final_amount);
    const newSale = h("button", { type: "button", class: "primary", id: "new-sale", onclick: () => reset() }, "New sale");
    replace(receipt, h("div", { class: "receipt", "data-tx": tx.tx_no, "data-replayed": String(reply.replayed) },
      h("h3", null, reply.replayed ? "Receipt (already charged)" : "Receipt"),
      pairs([
        ["Transaction", tx.tx_no],
        ["Card", `${card.card_no} (${card.card_type}, level ${card.level})`],
        ["Amount", tx.raw_amount],
        ["Discount", tx.discount_applied === "1.000" ? "none" : `×${tx.discount_applied} (−${saving})`],
        ["Paid", h("strong", { class: "amount" }, tx.final_amount)],
        ["Points", `+${tx.points_earned}`],
        ["Balance after", tx.balance_after ?? null],
        ["Order", tx.external_order_id ?? null],
        ["Cashier", tx.operator ?? null],
        ["Time", when(tx.created_at)],
      ], { id: "receipt-details" }),
      newSale));
    newSale.focus();
  }

  function reset(): void {
    charge.abandon();
    form.reset();
    setBusy(form, false);
    unknown.hidden = true;
    clearMessage(message);
    replace(cardCheck);
    replace(receipt);
    codeInput.focus();
  }

  return section("New sale", { id: "sale" }, form, unknown, receipt);
}
