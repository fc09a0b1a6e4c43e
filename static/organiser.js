// The organiser dashboard: create a sale, pick one, watch it live, pause it.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "fairdrop.organiserToken";
let watching = null; // event id whose stats we poll
let pollTimer = null;
let typeNames = {}; // ticket type id -> name, for the watched sale

function token() {
  return $("token").value.trim();
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error((data.error && data.error.message) || `request failed (${response.status})`);
  }
  return data;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function addTypeRow(defaults = {}) {
  const row = document.createElement("div");
  row.className = "row type-row";
  const d = { name: "General admission", price: "50.00", currency: "EUR", stock: 100, limit: 4, ...defaults };
  row.innerHTML =
    `<div><label>Name</label><input data-field="name" value="${escapeHtml(d.name)}"></div>` +
    `<div><label>Price</label><input data-field="price" inputmode="decimal" value="${d.price}"></div>` +
    `<div><label>Currency</label><input data-field="currency" maxlength="3" value="${d.currency}"></div>` +
    `<div><label>Stock</label><input data-field="stock" type="number" min="1" value="${d.stock}"></div>` +
    `<div><label>Per person</label><input data-field="limit" type="number" min="1" value="${d.limit}"></div>`;
  $("type-rows").appendChild(row);
}

function readTypes() {
  return [...document.querySelectorAll(".type-row")].map((row) => {
    const field = (name) => row.querySelector(`[data-field="${name}"]`).value.trim();
    return {
      name: field("name"),
      // Prices are whole cents on the server; the form takes a decimal amount.
      price_cents: Math.round(parseFloat(field("price")) * 100),
      currency: field("currency").toUpperCase(),
      stock: parseInt(field("stock"), 10),
      per_person_limit: parseInt(field("limit"), 10),
    };
  });
}

async function createSale(event) {
  event.preventDefault();
  showError("");
  const now = Date.now();
  const opensAt = new Date(now + 1000 * parseInt($("opens-in").value || "0", 10));
  const dropAt = new Date(opensAt.getTime() + 1000 * parseInt($("window").value || "0", 10));
  try {
    const created = await api("POST", "/api/events", {
      name: $("name").value.trim(),
      opens_at: opensAt.toISOString(),
      drop_at: dropAt.toISOString(),
      rate_per_min: parseInt($("rate").value, 10),
      cap: parseInt($("cap").value, 10),
      hold_seconds: parseInt($("hold-seconds").value, 10),
      ticket_types: readTypes(),
    });
    $("fan-link").href = created.fan_url;
    $("fan-link").textContent = location.origin + created.fan_url;
    $("created-seed-hash").textContent = created.seed_hash;
    $("created").hidden = false;
    await loadEvents();
    watch(created.id);
  } catch (err) {
    showError(err.message);
  }
}

async function loadEvents() {
  if (!token()) return;
  try {
    const { events } = await api("GET", "/api/events");
    $("events").innerHTML = events.map((e) =>
      `<li><a href="#${encodeURIComponent(e.id)}" data-event="${escapeHtml(e.id)}">${escapeHtml(e.name)}</a> ` +
      `<span class="muted">${escapeHtml(e.state || "")} · draw ${new Date(e.drop_at).toLocaleString()} · ` +
      `<a href="${escapeHtml(e.fan_url)}">fan page</a></span></li>`).join("") ||
      '<li class="muted">No sales yet.</li>';
  } catch (err) {
    showError(err.message);
  }
}

function watch(eventId) {
  watching = eventId;
  if (location.hash !== `#${eventId}`) history.replaceState(null, "", `#${eventId}`);
  $("stats").hidden = false;
  $("stats-title").textContent = `Live: ${eventId}`;
  $("draw-link").href = `/api/events/${encodeURIComponent(eventId)}/draw`;
  clearInterval(pollTimer);
  typeNames = {};
  api("GET", `/api/events/${encodeURIComponent(eventId)}`)
    .then((e) => { typeNames = Object.fromEntries(e.ticket_types.map((t) => [t.id, t.name])); })
    .catch(() => {});
  refreshStats();
  pollTimer = setInterval(refreshStats, 1000);
}

async function refreshStats() {
  if (!watching || !token()) return;
  try {
    const s = await api("GET", `/api/events/${encodeURIComponent(watching)}/stats`);
    for (const el of document.querySelectorAll("[data-stat]")) {
      const value = s[el.dataset.stat];
      el.textContent = value === undefined || value === null ? "–" : String(value);
    }
    if (s.paused) document.querySelector('[data-stat="state"]').textContent = `${s.state} (paused)`;
    $("pause-button").disabled = s.paused;
    $("resume-button").disabled = !s.paused;
    $("type-stats").innerHTML = Object.keys(s.stock_by_type).map((t) =>
      `<tr><td>${escapeHtml(typeNames[t] || t)}</td><td class="num">${s.stock_by_type[t]}</td>` +
      `<td class="num">${s.held_by_type[t]}</td><td class="num">${s.sold_by_type[t]}</td>` +
      `<td class="num">${s.remaining[t]}</td></tr>`).join("");
    $("seed-hash").textContent = s.seed_hash || "";
    $("draw-done").hidden = !s.seed;
    $("seed").textContent = s.seed || "";
    $("entrants-digest").textContent = s.entrants_digest || "";
    showError("");
  } catch (err) {
    showError(err.message);
  }
}

async function setPaused(paused) {
  if (!watching) return;
  try {
    await api("POST", `/api/events/${encodeURIComponent(watching)}/${paused ? "pause" : "resume"}`);
    await refreshStats();
  } catch (err) {
    showError(err.message);
  }
}

$("token").value = sessionStorage.getItem(TOKEN_KEY) || "";
$("token").addEventListener("change", () => {
  sessionStorage.setItem(TOKEN_KEY, token());
  loadEvents();
});
$("create-form").addEventListener("submit", createSale);
$("add-type").addEventListener("click", () => addTypeRow({ name: "VIP", price: "120.00", stock: 20, limit: 2 }));
$("pause-button").addEventListener("click", () => setPaused(true));
$("resume-button").addEventListener("click", () => setPaused(false));
$("events").addEventListener("click", (e) => {
  const link = e.target.closest("[data-event]");
  if (link) { e.preventDefault(); watch(link.dataset.event); }
});
window.addEventListener("hashchange", () => { if (location.hash.length > 1) watch(decodeURIComponent(location.hash.slice(1))); });

addTypeRow();
loadEvents();
if (location.hash.length > 1) watch(decodeURIComponent(location.hash.slice(1)));
