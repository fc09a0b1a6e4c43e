// The organiser dashboard (/organiser, /organiser#<event id>).
//
// Create a sale, pick one to watch, see its figures every second, pause and
// resume it, list its orders and cancel (refund) one. Every call carries the organiser token as a bearer token; the
// token lives in sessionStorage so it is gone when the tab closes.
import { $, callJson, clearError, el, showError } from "/static/common.js";
import { showAccess, wireAccess } from "/static/organiser_access.js";
import { showDoors, wireDoors } from "/static/organiser_doors.js";

const TOKEN_KEY = "fairdrop.organiserToken";
const STATS_EVERY_MS = 1_000;
const EVENTS_RELOAD_DELAY_MS = 400;
const DEFAULT_DROP_AFTER_MS = 60_000;
const DEFAULT_TYPE = {
  name: "General admission",
  price_cents: 5000,
  stock: 100,
  per_person_limit: 4,
};
const page = {
  events: new Map(), // id -> event object (from the list or the create answer)
  selectedId: "",
  stats: null,
  selection: 0, // bumps on every new selection: answers for the sale picked before are dropped
  statsGeneration: 0, // bumps on every new selection or poll restart: stale polls stop themselves
  ordersGeneration: 0, // bumps on every new selection and orders request: only the latest renders
  eventsReloadTimer: 0,
};

// ---------- small helpers ----------

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** The value a datetime-local input wants: local time, to the second. */
function toLocalInputValue(date) {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** ISO 8601 with this browser's UTC offset, as the API requires an offset. */
function isoWithOffset(date) {
  const offsetMinutes = -date.getTimezoneOffset();
  const sign = offsetMinutes >= 0 ? "+" : "-";
  const abs = Math.abs(offsetMinutes);
  return `${toLocalInputValue(date)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function absoluteUrl(path) {
  return new URL(path, location.origin).href;
}

// ---------- HTTP ----------

function organiserToken() {
  return $("token").value.trim();
}

function callApi(method, path, body) {
  return callJson(method, path, { body, headers: { Authorization: `Bearer ${organiserToken()}` } });
}

const isAuthError = (error) => error.httpStatus === 401 || error.httpStatus === 403;

// ---------- the token ----------

function restoreToken() {
  $("token").value = sessionStorage.getItem(TOKEN_KEY) || "";
}

function onTokenInput() {
  sessionStorage.setItem(TOKEN_KEY, organiserToken());
  // Wait for the typing to stop before asking for the list with the new token.
  clearTimeout(page.eventsReloadTimer);
  page.eventsReloadTimer = setTimeout(() => {
    reloadEvents();
    restartStatsPolling();
  }, EVENTS_RELOAD_DELAY_MS);
}

// ---------- the create form ----------

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
    page.events.set(event.id, event);
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

// ---------- the list of sales ----------

async function reloadEvents() {
  if (!organiserToken()) {
    renderEvents([]);
    $("events-empty").textContent = "Enter your organiser token to see your sales.";
    return;
  }
  try {
    const answer = await callApi("GET", "/api/events");
    for (const event of answer.events) page.events.set(event.id, event);
    renderEvents(answer.events);
    if (page.selectedId) {
      showAccess(page.events.get(page.selectedId) || null);
      showDoors(page.selectedId);
    }
    clearError();
  } catch (error) {
    renderEvents([]);
    $("events-empty").textContent = "Your sales appear here once the token is right.";
    showError(error.message);
  }
}

function renderEvents(events) {
  const list = $("events");
  list.replaceChildren();
  $("events-empty").hidden = events.length > 0;
  if (events.length === 0) $("events-empty").textContent = "No sales yet: create one.";
  // Newest drop first: the sale an organiser is running is usually the latest.
  const sorted = [...events].sort((a, b) => Date.parse(b.drop_at) - Date.parse(a.drop_at));
  for (const event of sorted) {
    const button = el(
      "button",
      { type: "button", "data-event-id": event.id, "aria-current": String(event.id === page.selectedId) },
      el("span", {}, event.name, el("br"),
        el("span", { class: "muted small" }, `drop ${new Date(event.drop_at).toLocaleString()}`)),
      el("span", { class: "pill" }, event.paused ? "paused" : event.state || "—"),
    );
    button.addEventListener("click", () => (location.hash = event.id));
    list.append(el("li", {}, button));
  }
}

function markSelectedInList() {
  for (const button of $("events").querySelectorAll("button[data-event-id]")) {
    button.setAttribute("aria-current", String(button.dataset.eventId === page.selectedId));
  }
}

// ---------- watching one sale ----------

function selectFromHash() {
  const eventId = decodeURIComponent(location.hash.slice(1));
  if (eventId === page.selectedId) return;
  page.selectedId = eventId;
  page.stats = null;
  page.selection += 1;
  page.statsGeneration += 1;
  page.ordersGeneration += 1;
  markSelectedInList();
  $("stats").hidden = !eventId;
  const event = page.events.get(eventId);
  showAccess(eventId ? event || null : null);
  showDoors(eventId);
  if (!eventId) return;
  $("stats-title").textContent = event ? event.name : eventId;
  const fanUrl = `/e/${encodeURIComponent(eventId)}`;
  $("stats-fan-link").href = fanUrl;
  $("stats-fan-link").textContent = absoluteUrl(fanUrl);
  $("draw-link").href = `/api/events/${encodeURIComponent(eventId)}/draw`;
  $("orders").replaceChildren();
  renderStats(null);
  pollStats(page.statsGeneration);
}

/** A poll loop stopped by a wrong token starts again with the new one. */
function restartStatsPolling() {
  if (!page.selectedId) return;
  page.statsGeneration += 1;
  pollStats(page.statsGeneration);
}

/** One poll at a time, one second apart; a new selection ends the old loop. */
async function pollStats(generation) {
  if (generation !== page.statsGeneration) return;
  const eventId = page.selectedId;
  let again = true;
  try {
    const stats = await callApi("GET", `/api/events/${encodeURIComponent(eventId)}/stats`);
    if (generation !== page.statsGeneration) return;
    renderStats(stats);
  } catch (error) {
    if (generation !== page.statsGeneration) return;
    showError(error.message);
    // A wrong token or an unknown sale will not fix itself; a blip will.
    again = !isAuthError(error) && error.httpStatus !== 404;
    if (!again) $("stats-updated").textContent = "stopped: fix the token or pick another sale";
  }
  if (again) setTimeout(() => pollStats(generation), STATS_EVERY_MS);
}

function renderStats(stats) {
  page.stats = stats;
  // The tiles in the page name their figures (data-stat): the HTML is the list.
  for (const cell of $("stats").querySelectorAll(".tiles [data-stat]")) {
    const value = stats ? stats[cell.dataset.stat] : undefined;
    cell.textContent = value === undefined || value === null ? "—" : String(value);
  }
  const event = page.events.get(page.selectedId);
  if (event) $("stats-title").textContent = event.name;
  $("paused-pill").hidden = !(stats && stats.paused);
  $("pause-button").disabled = !stats || stats.paused;
  $("resume-button").disabled = !stats || !stats.paused;
  $("stats-updated").textContent = stats
    ? `updated ${new Date().toLocaleTimeString()}`
    : "waiting for figures…";
  renderTypeStats(stats, event);
  renderDraw(stats);
}

function renderTypeStats(stats, event) {
  const body = $("type-stats");
  body.replaceChildren();
  if (!stats) return;
  const types = (event && event.ticket_types) || [];
  const names = new Map(types.map((t) => [t.id, t.name]));
  // The organiser's order of types first, then any the list does not know yet.
  const typeIds = [
    ...new Set([...types.map((t) => t.id), ...Object.keys(stats.stock_by_type || stats.remaining || {})]),
  ];
  for (const typeId of typeIds) {
    const figure = (byType) => String((byType || {})[typeId] ?? 0);
    body.append(
      el(
        "tr",
        { "data-type": typeId },
        el("th", { scope: "row" }, names.get(typeId) || typeId),
        el("td", {}, figure(stats.stock_by_type)),
        el("td", {}, figure(stats.held_by_type)),
        el("td", {}, figure(stats.sold_by_type)),
        el("td", {}, figure(stats.remaining)),
      ),
    );
  }
}

function renderDraw(stats) {
  const cell = (name) => document.querySelector(`[data-stat="${name}"]`);
  cell("seed_hash").textContent = (stats && stats.seed_hash) || "—";
  cell("seed").textContent = (stats && stats.seed) || "revealed at the drop";
  cell("entrants_digest").textContent = (stats && stats.entrants_digest) || "published at the drop";
  $("draw-verify").hidden = !(stats && stats.seed);
}

async function setPaused(paused) {
  clearError();
  const eventId = page.selectedId;
  const selection = page.selection;
  $("pause-button").disabled = true;
  $("resume-button").disabled = true;
  try {
    const stats = await callApi("POST", `/api/events/${encodeURIComponent(eventId)}/${paused ? "pause" : "resume"}`);
    if (selection === page.selection) renderStats(stats);
  } catch (error) {
    showError(error.message);
    if (selection === page.selection) renderStats(page.stats);
  }
}

// ---------- orders ----------

const eventPath = (tail) => `/api/events/${encodeURIComponent(page.selectedId)}${tail}`;

async function loadOrders() {
  clearError();
  // Not the stats generation: a poll restart (the token's debounced reload)
  // must not drop the orders of the sale still selected.
  const generation = ++page.ordersGeneration;
  try {
    const answer = await callApi("GET", eventPath("/orders"));
    if (generation === page.ordersGeneration) renderOrders(answer.orders);
  } catch (error) {
    showError(error.message);
  }
}

function renderOrders(orders) {
  const body = $("orders");
  body.replaceChildren();
  for (const order of orders) {
    const tickets = order.items.reduce((sum, item) => sum + item.quantity, 0);
    const total = `${(order.total_cents / 100).toFixed(2)} ${order.currency}`;
    // "refunding" is a cancel that stopped half-way: cancelling again finishes it.
    const cancellable = order.status === "paid" || order.status === "refunding";
    const button = el("button", { type: "button", title: "Cancel and refund" }, "Cancel");
    button.addEventListener("click", () => cancelOrder(order.id, button));
    body.append(
      el(
        "tr",
        { "data-order": order.id },
        el("td", {}, el("code", { title: order.id }, order.id.slice(0, 8))),
        el("td", {}, String(tickets)),
        el("td", {}, total),
        el("td", {}, order.status),
        el("td", {}, cancellable ? button : ""),
      ),
    );
  }
  if (!orders.length) body.append(el("tr", {}, el("td", { colspan: "5" }, "No orders yet.")));
}

async function cancelOrder(orderId, button) {
  if (!window.confirm(`Refund order ${orderId} and put its tickets back on sale?`)) return;
  clearError();
  button.disabled = true;
  try {
    await callApi("POST", eventPath(`/orders/${encodeURIComponent(orderId)}/cancel`));
  } catch (error) {
    showError(error.message);
  }
  await loadOrders();
}

// ---------- start ----------

function start() {
  restoreToken();
  $("token").addEventListener("input", onTokenInput);
  // Enter in the token field would reload the page: it only saves.
  $("token-form").addEventListener("submit", (submitEvent) => submitEvent.preventDefault());
  $("create-form").addEventListener("submit", createSale);
  $("add-type-button").addEventListener("click", () =>
    addTypeRow({ ...DEFAULT_TYPE, name: `Ticket type ${$("type-rows").children.length + 1}` }),
  );
  $("refresh-events-button").addEventListener("click", reloadEvents);
  $("pause-button").addEventListener("click", () => setPaused(true));
  $("resume-button").addEventListener("click", () => setPaused(false));
  $("orders-button").addEventListener("click", loadOrders);
  wireAccess(organiserToken, () => page.selectedId);
  wireDoors(organiserToken, () => page.selectedId);
  for (const input of [$("opens-at"), $("drop-at")]) {
    input.addEventListener("input", () => (input.dataset.touched = "1"));
  }
  addTypeRow();
  resetWindowDefaults();
  window.addEventListener("hashchange", selectFromHash);
  selectFromHash();
  reloadEvents();
}

start();
