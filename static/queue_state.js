// The fan page's state: the sale this page is for, the `page` object every
// other queue_*.js module reads and writes, the API calls that keep the
// page's idea of server time, and the arithmetic that turns a join answer or
// a progress message into the fan's place (no DOM here).
import { callJson } from "/static/common.js";
import { admissionWaitS } from "/static/queue_odds.js";

// A Date header has whole seconds, so smaller differences are noise.
const CLOCK_OFFSET_MIN_MS = 2_000;

// A new fan whose network address has placed its share of new fans for now
// (web/rate_limits.py, join.lua): the socket's state while the server waits to
// place it, and what the page shows while it waits to join again itself.
export const ADDRESS_BUSY = "address_busy";

export const EVENT_ID = eventIdFromPath(location.pathname);
// A presale link (/e/<id>?presale=<link id>): buy before or beside the queue.
export const PRESALE_ID = new URLSearchParams(location.search).get("presale") || "";
export const API = `/api/events/${encodeURIComponent(EVENT_ID)}`;

export const page = {
  event: null, // GET /api/events/{id}
  typesById: new Map(),
  status: null, // the latest status (from the socket, or built from the join answer)
  hold: null, // {id, items: [[type, qty]] | null, expires_at}
  pendingRequestId: null, // a hold request waiting for its answer
  paying: false,
  // The Stripe form for the hold: {holdId, clientSecret, stripe, elements,
  // element, stage: "loading" | "form" | "confirming" | "waiting"}, or null.
  stripePay: null,
  order: null, // the last successful "order" message
  presale: null, // the presale link this page was opened with (GET .../presale/{id})
  socket: null,
  // The proof of work for the next join, begun when the page opened: a
  // promise of the solution (null: none needed), or null once used.
  proof: null,
  // The proof is a solution kept from a join refused for its address: unused,
  // or spent on the session that answer gave this browser (joinWithProof).
  proofKept: false,
  // While the fan waits for its address's share: when (this device's clock)
  // the next try for a place is due, by the page or by the server.
  addressBusyUntil: 0,
  reconnectAttempt: 0,
  refunded: false, // the organiser refunded the fan's order (queue_messages.js)
  letGo: false, // the fan let their hold go (queue_render.js says so, not "time ran out")
  heardAt: 0, // when the socket last brought a message (queue_connection.js checkSilence)
  askedAt: 0, // when a silent socket was pinged, 0 while it is heard
  clockOffsetMs: 0, // server clock minus this device's clock
  buyRows: new Map(), // type id -> {input, fewer, more, limit}
  leftCells: new Map(), // type id -> <span> showing remaining stock
};

function eventIdFromPath(path) {
  const match = /^\/e\/([^/]+)\/?$/.exec(path);
  return match ? decodeURIComponent(match[1]) : "";
}

// ---------- server time and HTTP ----------

/** Now on the server's clock: deadlines in messages are server epoch ms. */
export function serverNow() {
  return Date.now() + page.clockOffsetMs;
}

function learnClockOffset(response, sentAt, receivedAt) {
  const header = response.headers.get("Date");
  const serverMs = header ? Date.parse(header) : NaN;
  if (Number.isNaN(serverMs)) return;
  // The header is truncated to the second: +500 ms is its expected value.
  const offset = serverMs + 500 - (sentAt + receivedAt) / 2;
  page.clockOffsetMs = Math.abs(offset) >= CLOCK_OFFSET_MIN_MS ? offset : 0;
}

/** Every answer's Date header keeps the page's idea of server time fresh. */
export function callApi(method, path, body) {
  const sentAt = Date.now();
  const onResponse = (response) => learnClockOffset(response, sentAt, Date.now());
  return callJson(method, path, { body, onResponse });
}

// ---------- questions about the state ----------

export function eventCurrency() {
  return page.event.currency || (page.event.ticket_types[0] || {}).currency || "EUR";
}

/** Buying through the presale link: the fan has one and no queue turn right now. */
export function buyingWithPresale() {
  return !!page.presale && !(page.status && page.status.admission);
}

/** Stripe is busy with the payment, or it went through: the hold must stay shown. */
export function stripeBusy() {
  return !!page.stripePay && ["confirming", "waiting"].includes(page.stripePay.stage);
}

// ---------- the fan's place ----------

/** Fans ahead and the wait, as web/rooms.py's Room.status_message works them out. */
export function placeFigures(state, number, progress) {
  const ahead = number ? Math.max(0, number - progress.serving - 1) : null;
  const rate = progress.rate_per_min || 0;
  let waitS = null;
  if (state === "queued" && rate > 0 && !progress.paused) {
    // As the server's admission_wait_s (queue_engine/odds.py): ahead + 1 intervals.
    waitS = admissionWaitS(ahead || 0, progress.next_admit_ms ?? null, rate, serverNow());
  }
  return { ahead, wait_s: waitS };
}

/** A first picture from the join answer, replaced by the socket's first status. */
export function statusFromJoin(joined, event) {
  const remaining = Object.fromEntries(event.ticket_types.map((t) => [t.id, t.remaining]));
  let state = {
    buffered: "waiting_room",
    not_open: "not_open",
    sold_out: "sold_out",
    [ADDRESS_BUSY]: ADDRESS_BUSY,
  }[joined.status];
  if (!state) {
    if (joined.admission) state = "admitted";
    else if (joined.number > joined.serving) state = "queued";
    else state = joined.tickets > 0 ? "done" : "turn_over";
  }
  // The same arithmetic as on every progress message, so the first picture
  // already shows the wait (the socket's first status may come a moment later).
  const figures = placeFigures(state, joined.number || 0, {
    serving: joined.serving,
    rate_per_min: event.rate_per_min,
    paused: event.paused,
  });
  return {
    state,
    number: joined.number || 0,
    ahead: figures.ahead,
    wait_s: figures.wait_s,
    serving: joined.serving,
    remaining,
    remaining_total: Object.values(remaining).reduce((a, b) => a + b, 0),
    tickets_may_return: false,
    paused: event.paused,
    pause_message: event.pause_message || "",
    opens_at: Date.parse(event.opens_at),
    drop_at: Date.parse(event.drop_at),
    admission: joined.admission,
    hold_id: joined.hold_id || "",
  };
}

/** The status to show while this page waits to join again after a join refused for now. */
export function addressBusyStatus(waitS) {
  const base =
    page.status || statusFromJoin({ status: ADDRESS_BUSY, number: 0, serving: 0 }, page.event);
  return {
    ...base,
    state: ADDRESS_BUSY,
    number: 0,
    ahead: null,
    wait_s: waitS,
    admission: null,
    hold_id: "",
  };
}
