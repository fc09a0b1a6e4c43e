// The organiser dashboard's "Discount codes" card: make a code for the
// selected sale (a percentage or a fixed amount off, of one ticket type or the
// whole order, up to a number of uses, until a time) and list the sale's codes
// with their uses so far. The card builds itself below "Who may enter", so
// the page and the other cards need no change; the server keeps every figure.
import { $, clearError, el, showError } from "/static/common.js";
import { callApi, eventPath, organiserToken, toLocalInputValue } from "/static/organiser_api.js";
import { selectedId } from "/static/organiser_sales.js";

// A new code works for a week unless the organiser says otherwise.
const DEFAULT_LIFE_MS = 7 * 24 * 3600 * 1000;
// How often the uses are read again while the card shows (uses change as fans hold and pay).
const REFRESH_MS = 5_000;

const card = { eventId: "", event: null };

function field(id, label, input, help) {
  return el("label", { for: id }, label, input, help ? el("span", { class: "field-help" }, help) : "");
}

function buildCard() {
  const kind = el(
    "select",
    { id: "discount-kind", "data-testid": "discount-kind" },
    el("option", { value: "percent" }, "Percent off"),
    el("option", { value: "fixed" }, "Amount off (in cents)"),
  );
  const form = el(
    "form",
    { id: "discount-form", class: "form-grid", "data-testid": "discount-form", novalidate: true },
    el(
      "div",
      { class: "form-grid two" },
      field(
        "discount-code-new",
        "Code",
        el("input", {
          id: "discount-code-new",
          "data-testid": "discount-code-new",
          maxlength: 40,
          pattern: "[A-Za-z0-9][A-Za-z0-9_\\-]*",
          required: true,
        }),
        "Letters, digits, - and _; fans may type it in any case.",
      ),
      field("discount-kind", "Kind", kind),
      field(
        "discount-amount",
        "Percent, or cents off",
        el("input", {
          id: "discount-amount",
          "data-testid": "discount-amount",
          type: "number",
          min: 1,
          step: 1,
          value: 10,
          required: true,
        }),
        "A percentage is of the tickets it applies to, rounded down to the cent.",
      ),
      field(
        "discount-type",
        "Applies to",
        el("select", { id: "discount-type", "data-testid": "discount-type" }),
        "A fixed amount on one type comes off each of its tickets.",
      ),
      field(
        "discount-uses",
        "Uses",
        el("input", {
          id: "discount-uses",
          "data-testid": "discount-uses",
          type: "number",
          min: 1,
          step: 1,
          value: 50,
          required: true,
        }),
      ),
      field(
        "discount-expires",
        "Works until",
        el("input", { id: "discount-expires", "data-testid": "discount-expires", type: "datetime-local", step: 1 }),
      ),
    ),
    el("button", { type: "submit", id: "discount-create", "data-testid": "discount-create" }, "Make a discount code"),
    el(
      "div",
      { class: "table-wrap" },
      el(
        "table",
        {},
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ...["Code", "Off", "Applies to", "Used", "Paid", "Limit", "Until"].map((h) =>
              el("th", { scope: "col" }, h),
            ),
          ),
        ),
        el("tbody", { id: "discount-list", "data-testid": "discount-list" }),
      ),
    ),
  );
  form.addEventListener("submit", createCode);
  return el(
    "section",
    { class: "card", id: "discount-card", "data-testid": "discount-card", hidden: true, "aria-labelledby": "discount-title" },
    el("h2", { id: "discount-title" }, "Discount codes"),
    el(
      "p",
      { class: "muted small" },
      "A fan types a code when choosing tickets; a hold takes one use, given back if the hold ends unpaid.",
    ),
    form,
  );
}

function resetForm(event) {
  const types = $("discount-type");
  types.replaceChildren(el("option", { value: "" }, "The whole order"));
  for (const type of event.ticket_types) {
    types.append(el("option", { value: type.id.slice(event.id.length + 1) }, type.name));
  }
  $("discount-expires").value = toLocalInputValue(new Date(Date.now() + DEFAULT_LIFE_MS));
}

function offText(code) {
  return code.kind === "percent" ? `${code.amount}%` : `${(code.amount / 100).toFixed(2)}`;
}

function renderCodes(codes) {
  const rows = codes.map((code) =>
    el(
      "tr",
      { "data-code": code.code },
      el("td", {}, el("code", {}, code.code)),
      el("td", {}, offText(code)),
      el("td", {}, code.ticket_type || "whole order"),
      el("td", {}, String(code.used ?? "—")),
      el("td", {}, String(code.paid ?? "—")),
      el("td", {}, String(code.max_uses)),
      el("td", {}, new Date(code.expires_at).toLocaleString()),
    ),
  );
  $("discount-list").replaceChildren(...rows);
}

async function loadCodes() {
  const eventId = card.eventId;
  if (!eventId || !organiserToken()) return;
  try {
    const answer = await callApi("GET", eventPath(eventId, "/discounts"));
    if (eventId === card.eventId) renderCodes(answer.discounts);
  } catch (error) {
    showError(error.message);
  }
}

async function createCode(submitted) {
  submitted.preventDefault();
  clearError();
  const expires = new Date($("discount-expires").value);
  if (Number.isNaN(expires.getTime())) return showError("Say until when the code works.");
  const body = {
    code: $("discount-code-new").value.trim(),
    kind: $("discount-kind").value,
    amount: parseInt($("discount-amount").value, 10),
    max_uses: parseInt($("discount-uses").value, 10),
    expires_at: expires.toISOString(),
  };
  if ($("discount-type").value) body.ticket_type = $("discount-type").value;
  try {
    await callApi("POST", eventPath(card.eventId, "/discounts"), body);
  } catch (error) {
    return showError(error.message);
  }
  $("discount-code-new").value = "";
  loadCodes();
}

/** Follows the page's selected sale: a new one gets a fresh form and its codes. */
async function follow() {
  const eventId = selectedId() || "";
  if (eventId === card.eventId) return;
  card.eventId = eventId;
  card.event = null;
  $("discount-card").hidden = true;
  $("discount-list").replaceChildren();
  if (!eventId) return;
  try {
    const event = await callApi("GET", eventPath(eventId));
    if (eventId !== card.eventId) return;
    card.event = event;
  } catch {
    return; // an unknown sale: the sales card says so
  }
  resetForm(card.event);
  $("discount-card").hidden = false;
  loadCodes();
}

function start() {
  const after = $("access-card");
  after.after(buildCard());
  window.addEventListener("hashchange", follow);
  setInterval(() => {
    follow();
    if (!document.hidden && !$("discount-card").hidden) loadCodes();
  }, REFRESH_MS);
  // After the page's own start (organiser.js) has read the selected sale from the address.
  setTimeout(follow, 0);
}

start();
