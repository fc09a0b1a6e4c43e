// The organiser dashboard's sales: the list of them, the one being watched
// (picked by the address's #<event id>: its figures and charts pushed each
// second over the live socket, its countdown, pause and resume); its orders
// are organiser_orders.js's.
import { $, clearError, el, showError } from "/static/common.js";
import { absoluteUrl, callApi, eventPath, organiserToken } from "/static/organiser_api.js";
import { showAccess } from "/static/organiser_access.js";
import { showSteering } from "/static/organiser_steer.js";
import { showDoors } from "/static/organiser_doors.js";
import { clearOrders } from "/static/organiser_orders.js";
import { addSamples, clearCharts, showHistory } from "/static/organiser_charts.js";
import { clearCountdown, setSchedule } from "/static/organiser_countdown.js";
import { stopWatching, watchSale } from "/static/organiser_live.js";

// A sale's phase in plain words (fairdrop/protocol.py SaleState).
const STATE_WORDS = {
  scheduled: "Not open yet",
  buffering: "Waiting room open",
  drawing: "Drawing the queue order",
  queueing: "Selling",
  sold_out: "Sold out",
};
const stateWords = (state) => STATE_WORDS[state] || state || "—";
const page = {
  events: new Map(), // id -> event object (from the list or the create answer)
  selectedId: "",
  stats: null,
  selection: 0, // bumps on every new selection: answers for the sale picked before are dropped
};

/** The sale being watched ("" when none is). */
export const selectedId = () => page.selectedId;

/** A sale just made: known before the list is reloaded. */
export function rememberEvent(event) {
  page.events.set(event.id, event);
}

// ---------- the list of sales ----------

export async function reloadEvents() {
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
      showSteering(page.events.get(page.selectedId) || null);
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
      el("span", { class: "pill", "data-state": event.state || "" }, event.paused ? "Paused" : stateWords(event.state)),
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

export function selectFromHash() {
  const eventId = decodeURIComponent(location.hash.slice(1));
  if (eventId === page.selectedId) return;
  page.selectedId = eventId;
  page.stats = null;
  page.selection += 1;
  markSelectedInList();
  $("stats").hidden = !eventId;
  const event = page.events.get(eventId);
  showAccess(eventId ? event || null : null);
  showSteering(eventId ? event || null : null);
  showDoors(eventId);
  stopWatching();
  clearCharts();
  clearCountdown();
  if (!eventId) return;
  $("stats-title").textContent = event ? event.name : eventId;
  const fanUrl = `/e/${encodeURIComponent(eventId)}`;
  $("stats-fan-link").href = fanUrl;
  $("stats-fan-link").textContent = absoluteUrl(fanUrl);
  $("draw-link").href = eventPath(eventId, "/draw");
  $("fairness-link").href = `${fanUrl}/fairness`;
  clearOrders();
  renderStats(null);
  watchLive();
}

/** A socket the server refused (a wrong token) starts again with the new token. */
export function restartLive() {
  if (page.selectedId) watchLive();
}

/** The watched sale's ticket types by id, their names as the organiser gave them. */
function typeNames() {
  const event = page.events.get(page.selectedId);
  return new Map(((event && event.ticket_types) || []).map((t) => [t.id, t.name]));
}

/** The figures, charts and countdown of the watched sale, pushed over its socket. */
function watchLive() {
  const selection = page.selection;
  const mine = (handler) => (message) => {
    if (selection === page.selection) handler(message);
  };
  const figures = (message) => {
    if (message.stats) renderStats(message.stats);
    if (message.stats) setSchedule(message.stats.opens_at_ms, message.stats.drop_at_ms, message.now_ms);
  };
  watchSale(page.selectedId, organiserToken(), {
    history: mine((message) => {
      clearError();
      showHistory(message.samples, typeNames());
      figures(message);
    }),
    sample: mine((message) => {
      addSamples(message.samples, typeNames());
      figures(message);
    }),
    lost: mine(() => ($("stats-updated").textContent = "connection lost: reconnecting…")),
    stopped: mine((error) => {
      showError(error.message);
      $("stats-updated").textContent = "stopped: fix the token or pick another sale";
    }),
  });
}

function renderStats(stats) {
  page.stats = stats;
  // The tiles in the page name their figures (data-stat): the HTML is the list.
  for (const cell of $("stats").querySelectorAll(".tiles [data-stat]")) {
    let value = stats ? stats[cell.dataset.stat] : undefined;
    if (cell.dataset.stat === "state" && value) value = stateWords(value);
    cell.textContent = value === undefined || value === null ? "—" : String(value);
  }
  const event = page.events.get(page.selectedId);
  if (event) $("stats-title").textContent = event.name;
  $("paused-pill").hidden = !(stats && stats.paused);
  $("pause-button").disabled = !stats || stats.paused;
  $("resume-button").disabled = !stats || !stats.paused;
  $("stats-updated").textContent = stats
    ? `live · updated ${new Date().toLocaleTimeString()}`
    : "waiting for figures…";
  renderTypeStats(stats, event);
  renderDraw(stats);
  renderRound(stats);
}

/** A resale round: tickets back after the sale sold out, drawn among whoever enters its window. */
function renderRound(stats) {
  const state = stats ? stats.round_state : "";
  const line = $("round-line");
  line.hidden = !state;
  if (!state) return;
  const fans = `${stats.round_entered} ${stats.round_entered === 1 ? "fan" : "fans"}`;
  const closes = new Date(stats.round_drop_at).toLocaleTimeString();
  line.dataset.roundState = state;
  line.textContent =
    state === "buffering"
      ? `Resale round ${stats.round} open until ${closes}: tickets came back after the sale ` +
        `sold out; ${fans} entered so far.`
      : `Resale round ${stats.round}: drawing the order of ${fans}.`;
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

export async function setPaused(paused) {
  clearError();
  const eventId = page.selectedId;
  const selection = page.selection;
  $("pause-button").disabled = true;
  $("resume-button").disabled = true;
  try {
    const stats = await callApi("POST", eventPath(eventId, paused ? "/pause" : "/resume"));
    if (selection === page.selection) renderStats(stats);
  } catch (error) {
    showError(error.message);
    if (selection === page.selection) renderStats(page.stats);
  }
}
