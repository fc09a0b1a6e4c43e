// The fan's live queue page. The server pushes a "status" message on every
// change (and at least every few seconds); this page only renders it, so a
// reload or a second tab shows the same place.
"use strict";

const eventId = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const $ = (id) => document.getElementById(id);

const page = {
  event: null,     // the public event (GET /api/events/{id})
  status: null,    // the latest "status" message
  hold: null,      // our live hold, from "hold_result"
  order: null,     // our order, from "order"
  requestId: null, // a ticket request waiting for its answer
  socket: null,
  retryDelay: 1000,
};

const HEADLINES = {
  not_open: "The sale has not opened yet",
  waiting_room: "You're in",
  queued: "You're in the queue",
  admitted: "It's your turn",
  turn_over: "Your turn has ended",
  done: "You have your tickets",
  sold_out: "Sold out",
};

const EXPLANATIONS = {
  not_open: "Keep this page open. When the window opens you join automatically.",
  waiting_room:
    "At the drop everyone who arrived before it gets a random place. Arriving earlier gives no advantage.",
  queued: "Keep this page open; you are let in when your number comes up.",
  admitted: "Choose your tickets before your turn ends.",
  turn_over: "Your time to buy ran out.",
  done: "Your order is confirmed.",
  sold_out: "Every ticket has been sold.",
};

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (data.error && data.error.message) || `request failed (${response.status})`;
    throw new Error(message);
  }
  return data;
}

function money(cents, currency) {
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
}

function duration(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return m > 0 ? `${m} min ${String(s).padStart(2, "0")} s` : `${s} s`;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function typeById(typeId) {
  return (page.event && page.event.ticket_types.find((t) => t.id === typeId)) || null;
}

function renderTypes() {
  const remaining = (page.status && page.status.remaining) || {};
  const rows = page.event.ticket_types.map((t) => {
    const left = remaining[t.id] !== undefined ? remaining[t.id] : t.remaining;
    return `<tr><td>${escapeHtml(t.name)}</td><td class="num">${money(t.price_cents, t.currency)}</td>` +
      `<td class="num">${left}</td></tr>`;
  });
  $("types").innerHTML = rows.join("");
}

function renderQuantities() {
  const remaining = (page.status && page.status.remaining) || {};
  $("quantities").innerHTML = page.event.ticket_types.map((t) => {
    const left = remaining[t.id] !== undefined ? remaining[t.id] : t.remaining;
    const max = Math.max(0, Math.min(t.per_person_limit, left));
    return `<div class="qty"><label for="qty-${t.id}">${escapeHtml(t.name)} ` +
      `<span class="muted">${money(t.price_cents, t.currency)}, up to ${max}</span></label>` +
      `<input id="qty-${t.id}" name="qty-${t.id}" type="number" inputmode="numeric" min="0" ` +
      `max="${max}" value="0"></div>`;
  }).join("");
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render() {
  const s = page.status;
  if (!s) return;
  const state = page.order ? "done" : s.state;
  $("state").dataset.state = state;
  $("status").textContent = HEADLINES[state] || state;
  $("explain").textContent = EXPLANATIONS[state] || "";
  $("paused-banner").hidden = !s.paused;
  $("place").hidden = !(s.number > 0);
  // "Ahead" and "wait" only mean something while waiting.
  $("figures").hidden = state !== "queued";
  $("queue-number").textContent = s.number > 0 ? String(s.number) : "–";
  $("ahead").textContent = s.ahead === null || s.ahead === undefined ? "–" : String(s.ahead);
  $("wait").textContent = s.wait_s === null || s.wait_s === undefined ? "–" : duration(s.wait_s * 1000);
  $("remaining-total").textContent = String(s.remaining_total);
  $("may-return").hidden = !(s.tickets_may_return && s.remaining_total === 0);
  renderTypes();

  const canBuy = state === "admitted" && !page.hold && !page.order && !page.requestId;
  if (canBuy && $("buy-form").hidden) renderQuantities();
  $("buy-form").hidden = !canBuy;
  $("hold").hidden = !page.hold || !!page.order;
  if (page.hold) renderHold();
  $("confirmation").hidden = !page.order;
  tick();
}

function renderHold() {
  const items = page.hold.items.map(([typeId, quantity]) => {
    const t = typeById(typeId);
    return `<li>${quantity} × ${escapeHtml(t ? t.name : typeId)}</li>`;
  });
  $("hold-items").innerHTML = items.join("");
  const total = page.hold.items.reduce((sum, [typeId, q]) => sum + q * (typeById(typeId)?.price_cents || 0), 0);
  $("hold-total").textContent = money(total, page.event.currency);
}

function renderOrder() {
  const o = page.order;
  $("order-id").textContent = o.order_id;
  $("order-total").textContent = money(o.total_cents, o.currency);
  $("tickets").innerHTML = o.tickets.map((t) => {
    const type = typeById(t.type);
    return `<p>${escapeHtml(type ? type.name : t.type)}<br><span class="ticket-code">${escapeHtml(t.code)}</span></p>`;
  }).join("");
}

// Countdowns run on the page's clock between messages.
function tick() {
  const s = page.status;
  if (!s) return;
  const now = Date.now();
  let text = "";
  if (s.state === "not_open" && s.opens_at) text = `Opens in ${duration(s.opens_at - now)}`;
  else if (s.state === "waiting_room" && s.drop_at && s.drop_at > now) text = `The draw is in ${duration(s.drop_at - now)}`;
  else if (s.state === "waiting_room") text = "The draw is running…";
  $("countdown").textContent = text;
  if (s.admission && !page.hold) $("turn-countdown").textContent = `Your turn ends in ${duration(s.admission.deadline_ms - now)}`;
  if (page.hold) $("hold-countdown").textContent = duration(page.hold.expires_at - now);
}

function handleMessage(message) {
  switch (message.t) {
    case "status":
      page.status = message;
      if (!message.hold_id && page.hold && message.state !== "admitted") page.hold = null;
      break;
    case "hold_result":
      if (message.request_id !== page.requestId && page.requestId !== null) break;
      page.requestId = null;
      if (message.ok) {
        page.hold = message.hold;
        showError("");
      } else {
        showError(message.message);
      }
      break;
    case "order":
      if (message.ok) {
        page.order = message;
        page.hold = null;
        renderOrder();
        showError("");
      } else {
        showError(message.message);
      }
      break;
    case "released":
      page.hold = null;
      break;
    case "payment":
      if (message.pending) $("explain").textContent = "Processing your payment…";
      break;
    case "error":
      showError(message.message);
      break;
    default:
      return;
  }
  render();
}

function openSocket() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/events/${encodeURIComponent(eventId)}`);
  page.socket = socket;
  socket.onopen = () => { page.retryDelay = 1000; };
  socket.onmessage = (e) => {
    try { handleMessage(JSON.parse(e.data)); } catch (err) { console.error(err); }
  };
  socket.onclose = (e) => {
    // 44xx: the server refused us for good (no fan id, unknown event).
    if (e.code >= 4400 && e.code < 4500) return;
    setTimeout(openSocket, page.retryDelay);
    page.retryDelay = Math.min(page.retryDelay * 2, 10000);
  };
}

async function buy(event) {
  event.preventDefault();
  const items = page.event.ticket_types
    .map((t) => ({ type: t.id, quantity: parseInt($(`qty-${t.id}`).value || "0", 10) }))
    .filter((i) => i.quantity > 0);
  if (items.length === 0) { showError("Choose at least one ticket."); return; }
  try {
    const answer = await api("POST", `/api/events/${encodeURIComponent(eventId)}/purchases`, {
      admission_token: page.status.admission.token,
      items,
    });
    page.requestId = answer.request_id;
    $("status").textContent = "Holding your tickets…";
    render();
    setTimeout(() => pollRequest(answer.request_id), 5000);
  } catch (err) {
    showError(err.message);
  }
}

// The socket normally brings the answer; this covers a socket that dropped.
async function pollRequest(requestId) {
  for (let i = 0; i < 30 && page.requestId === requestId; i++) {
    try {
      const answer = await api("GET", `/api/events/${encodeURIComponent(eventId)}/purchases/${requestId}`);
      if (answer.status !== "pending") { handleMessage({ t: "hold_result", ...answer }); return; }
    } catch (err) {
      showError(err.message);
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function holdAction(action) {
  if (!page.hold) return;
  try {
    await api("POST", `/api/events/${encodeURIComponent(eventId)}/holds/${page.hold.id}/${action}`);
    $("pay-button").disabled = action === "pay";
  } catch (err) {
    showError(err.message);
  }
}

async function start() {
  $("draw-link").href = `/api/events/${encodeURIComponent(eventId)}/draw`;
  try {
    page.event = await api("GET", `/api/events/${encodeURIComponent(eventId)}`);
  } catch (err) {
    $("event-name").textContent = "fairdrop";
    $("status").textContent = "";
    showError(err.message);
    return;
  }
  document.title = `${page.event.name} · fairdrop`;
  $("event-name").textContent = page.event.name;
  $("event-when").textContent =
    `Window opens ${new Date(page.event.opens_at).toLocaleString()}, draw at ${new Date(page.event.drop_at).toLocaleString()}`;
  renderTypes();
  try {
    await api("POST", `/api/events/${encodeURIComponent(eventId)}/join`);
  } catch (err) {
    showError(err.message);
    return;
  }
  openSocket();
  setInterval(() => { if (page.socket && page.socket.readyState === 1) page.socket.send('{"t":"ping"}'); }, 20000);
  setInterval(tick, 1000);
}

$("buy-form").addEventListener("submit", buy);
$("pay-button").addEventListener("click", () => holdAction("pay"));
$("release-button").addEventListener("click", () => holdAction("release"));
start();
