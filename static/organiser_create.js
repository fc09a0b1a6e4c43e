// The organiser dashboard's "Create a sale" form: its ticket-type rows, the
// sale window (untouched fields mean "now" and "in 60 s" when clicked), and
// the answer's fan link and seed hash once the sale is made.
import { $, clearError, el, showError } from "/static/common.js";
import { absoluteUrl, callApi, isoWithOffset, toLocalInputValue } from "/static/organiser_api.js";
import { reloadEvents, rememberEvent } from "/static/organiser_sales.js";

const DEFAULT_DROP_AFTER_MS = 60_000;
const DEFAULT_TYPE = {
  name: "General admission",
  price_cents: 5000,
  stock: 100,
  per_person_limit: 4,
};

// ---------- the form ----------

function addTypeRow(type = DEFAULT_TYPE) {
  const rows = $("type-rows");
  const n = rows.children.length + 1;
  const field = (label, input) => el("label", {}, label, input);
  const remove = el("button", { type: "button", class: "danger", "aria-label": `Remove ticket type ${n}` }, "Remove");
  const row = el(
    "div",
    { class: "type-row" },
    field("Name", el("input", { name: "type-name", required: true, maxlength: 200, value: type.name })),
    field("Price", el("input", {
      name: "type-price", type: "number", inputmode: "decimal", min: 0, step: "0.01", required: true,
      value: (type.price_cents / 100).toFixed(2),
    })),
    field("Stock", el("input", {
      name: "type-stock", type: "number", inputmode: "numeric", min: 1, step: 1, required: true, value: type.stock,
    })),
    field("Per person", el("input", {
      name: "type-limit", type: "number", inputmode: "numeric", min: 1, max: 100, step: 1, required: true,
      value: type.per_person_limit,
    })),
    remove,
  );
  remove.addEventListener("click", () => {
    row.remove();
    updateRemoveButtons();
  });
  rows.append(row);
  updateRemoveButtons();
}

/** A sale needs at least one ticket type, so the last row cannot go. */
function updateRemoveButtons() {
  const buttons = $("type-rows").querySelectorAll("button.danger");
  buttons.forEach((button) => (button.disabled = buttons.length === 1));
}

function resetWindowDefaults() {
  const now = new Date();
  for (const input of [$("opens-at"), $("drop-at")]) delete input.dataset.touched;
  $("opens-at").value = toLocalInputValue(now);
  $("drop-at").value = toLocalInputValue(new Date(now.getTime() + DEFAULT_DROP_AFTER_MS));
}

/** Untouched time fields mean "now" and "in 60 s" at the moment of the click, not of page load. */
function windowTimes() {
  const now = new Date();
  const opens = $("opens-at").dataset.touched ? new Date($("opens-at").value) : now;
  const drop = $("drop-at").dataset.touched
    ? new Date($("drop-at").value)
    : new Date(opens.getTime() + DEFAULT_DROP_AFTER_MS);
  return { opens, drop };
}

function ticketTypesFromForm(currency) {
  return [...$("type-rows").children].map((row) => {
    const value = (name) => row.querySelector(`[name="${name}"]`).value;
    return {
      name: value("type-name").trim(),
      price_cents: Math.round(parseFloat(value("type-price")) * 100),
      currency,
      stock: parseInt(value("type-stock"), 10),
      per_person_limit: parseInt(value("type-limit"), 10),
    };
  });
}

function saleFromForm() {
  const { opens, drop } = windowTimes();
  // One currency for the whole sale: the API refuses mixed currencies.
  const currency = $("currency").value.trim().toUpperCase();
  return {
    name: $("event-name").value.trim(),
    opens_at: isoWithOffset(opens),
    drop_at: isoWithOffset(drop),
    rate_per_min: parseInt($("rate").value, 10),
    cap: parseInt($("cap").value, 10),
    hold_seconds: parseInt($("hold-seconds").value, 10),
    access: $("access").value,
    ...powDifficulty(),
    ticket_types: ticketTypesFromForm(currency),
  };
}

/** The proof-of-work difficulty the organiser typed, or nothing (the server's default). */
function powDifficulty() {
  const typed = $("pow-difficulty").value.trim();
  return typed === "" ? {} : { pow_difficulty: parseInt(typed, 10) };
}

async function createSale(submitEvent) {
  submitEvent.preventDefault();
  clearError();
  if (!$("create-form").reportValidity()) return;
  const button = $("create-button");
  button.disabled = true;
  try {
    const event = await callApi("POST", "/api/events", saleFromForm());
    rememberEvent(event);
    showCreated(event);
    resetWindowDefaults();
    await reloadEvents();
    location.hash = event.id; // selects it (hashchange)
  } catch (error) {
    showError(error.message);
  } finally {
    button.disabled = false;
  }
}

function showCreated(event) {
  const link = $("fan-link");
  link.href = event.fan_url;
  link.textContent = absoluteUrl(event.fan_url);
  $("created-seed-hash").textContent = event.seed_hash;
  $("created").hidden = false;
}

/** Wires the form and fills it with one ticket type and the default window. */
export function wireCreate() {
  $("create-form").addEventListener("submit", createSale);
  $("add-type-button").addEventListener("click", () =>
    addTypeRow({ ...DEFAULT_TYPE, name: `Ticket type ${$("type-rows").children.length + 1}` }),
  );
  for (const input of [$("opens-at"), $("drop-at")]) {
    input.addEventListener("input", () => (input.dataset.touched = "1"));
  }
  addTypeRow();
  resetWindowDefaults();
}
