// The fan's live queue page (/e/<event id>).
//
// The server owns the fan's place: a "status" message on the socket says what
// to show (on connect, and whenever the fan's own place changes: admitted,
// numbered by the draw, holding, done, turn over, sold out), and a reload or a
// second tab gets the same place back. Between those, every fan gets the same
// "progress" message (serving counter, stock, paused, rate); the page works out
// its own "ahead" and wait from its number and that message. This page renders
// the latest status, runs the countdowns between messages, and sends the fan's
// clicks (buy, pay, let go) to the HTTP API. With Stripe, paying shows
// Stripe's Payment Element; the order itself still arrives on the socket,
// once Stripe's webhook has told the server the money went through.
import { $, callJson, clearError, el, showError } from "/static/common.js";
import { proofForJoin } from "/static/pow.js";
import { renderAccess, signIn, wireSignIn } from "/static/sign_in.js";

const PING_EVERY_MS = 20_000;
const RECONNECT_DELAYS_MS = [1_000, 2_000, 5_000, 10_000]; // then 10 s for ever
const HOLD_POLL_AFTER_MS = 5_000;
const HOLD_POLL_EVERY_MS = 1_000;
const HOLD_POLL_MAX_TRIES = 60;
const COUNTDOWN_EVERY_MS = 250;
// A Date header has whole seconds, so smaller differences are noise.
const CLOCK_OFFSET_MIN_MS = 2_000;
// Close codes after which reconnecting cannot help (web/sockets.py).
const CLOSE_NO_FAN = 4401;
const CLOSE_UNKNOWN_EVENT = 4404;
const CLOSE_NO_PROOF = 4428; // this fan has not proved its work on this sale yet
// Join answers a fresh solution mends (web/proof_of_work.py).
const PROOF_CODES = new Set(["proof_of_work_required", "invalid_proof_of_work"]);
// A new fan whose network address has placed its share of new fans for now
// (web/rate_limits.py, join.lua): the socket's state while the server waits to
// place it, and what the page shows while it waits to join again itself.
const ADDRESS_BUSY = "address_busy";
// Up to this much is added at random to a join's Retry-After, so the pages of
// one campus do not all ask again in the same instant.
const JOIN_RETRY_JITTER_MS = 1_000;
const CHECKING_TEXT = "Checking your browser… (a few seconds at most)";

// An intent in these states has the money (or soon will): wait for the order.
const INTENT_PAID = new Set(["succeeded", "processing", "requires_capture"]);

const STATUS_TEXT = {
  not_open: "The sale has not opened yet",
  waiting_room: "You're in the waiting room",
  queued: "You're in the queue",
  admitted: "It's your turn to buy",
  [ADDRESS_BUSY]: "Many fans are joining from your network",
  turn_over: "Your turn has ended",
  done: "You have your tickets",
  sold_out: "Sold out",
};

const STATE_NOTES = {
  turn_over: "Your time to buy ran out before an order was made.",
  done: "Your order is confirmed. Thank you for queueing fairly.",
  sold_out: "Every ticket has been sold. Thank you for waiting.",
};

const EVENT_ID = eventIdFromPath(location.pathname);
// A presale link (/e/<id>?presale=<link id>): buy before or beside the queue.
const PRESALE_ID = new URLSearchParams(location.search).get("presale") || "";
const API = `/api/events/${encodeURIComponent(EVENT_ID)}`;

const page = {
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
  clockOffsetMs: 0, // server clock minus this device's clock
  buyRows: new Map(), // type id -> {input, fewer, more, limit}
  leftCells: new Map(), // type id -> <span> showing remaining stock
};

// ---------- small helpers ----------

function eventIdFromPath(path) {
  const match = /^\/e\/([^/]+)\/?$/.exec(path);
  return match ? decodeURIComponent(match[1]) : "";
}

function formatMoney(cents, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
  } catch {
    // An unknown currency code must not break the page.
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}

function formatCountdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3_600);
  const minutes = Math.floor((total % 3_600) / 60);
  const seconds = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  if (days > 0) return `${days} d ${hours} h ${pad(minutes)} min`;
  if (hours > 0) return `${hours}:${pad(minutes)}:${pad(seconds)}`;
  return `${minutes}:${pad(seconds)}`;
}

/** A short wait: "5 s", or a countdown when it is a minute or more; "a few seconds" once due. */
function formatSeconds(ms) {
  if (ms <= 0) return "a few seconds";
  return ms < 60_000 ? `${Math.ceil(ms / 1000)} s` : formatCountdown(ms);
}

function formatWait(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds <= 0) return "any moment";
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds % 60);
  if (minutes === 0) return `about ${rest} s`;
  return rest === 0 ? `about ${minutes} min` : `about ${minutes} min ${rest} s`;
}

/** Now on the server's clock: deadlines in messages are server epoch ms. */
function serverNow() {
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

// ---------- HTTP ----------

/** Every answer's Date header keeps the page's idea of server time fresh. */
function callApi(method, path, body) {
  const sentAt = Date.now();
  const onResponse = (response) => learnClockOffset(response, sentAt, Date.now());
  return callJson(method, path, { body, onResponse });
}

// ---------- the event and its ticket types ----------

function eventCurrency() {
  return page.event.currency || (page.event.ticket_types[0] || {}).currency || "EUR";
}

function renderEvent(event) {
  document.title = `${event.name} · fairdrop`;
  $("event-name").textContent = event.name;
  const opens = new Date(event.opens_at).toLocaleString();
  const drop = new Date(event.drop_at).toLocaleString();
  $("event-when").textContent = `Waiting room opens ${opens} · drop ${drop}`;
  $("seed-hash").textContent = event.seed_hash || "—";
  $("draw-link").href = `${API}/draw`;
  renderTicketTypes(event.ticket_types);
  buildBuyRows(event.ticket_types);
}

function renderTicketTypes(types) {
  const list = $("ticket-types");
  list.replaceChildren();
  for (const type of types) {
    const left = el("span", { "data-type": type.id }, String(type.remaining));
    page.leftCells.set(type.id, left);
    list.append(
      el(
        "li",
        {},
        el("span", { class: "ticket-name" }, type.name),
        el(
          "span",
          { class: "ticket-meta" },
          formatMoney(type.price_cents, type.currency),
          el("br"),
          el("span", { class: "muted small" }, left, " left"),
        ),
      ),
    );
  }
}

function renderRemaining(status) {
  for (const [typeId, cell] of page.leftCells) {
    const left = status.remaining[typeId];
    if (left !== undefined) cell.textContent = String(left);
  }
  $("remaining-total").textContent = String(status.remaining_total);
  $("may-return").hidden = !(status.tickets_may_return && status.remaining_total === 0);
}

// ---------- the buy form ----------

function buildBuyRows(types) {
  const rows = $("buy-rows");
  rows.replaceChildren();
  types.forEach((type, index) => {
    const inputId = `qty-${index}`;
    const controls = {
      input: el("input", {
        id: inputId,
        name: `qty-${type.id}`,
        type: "number",
        inputmode: "numeric",
        min: 0,
        max: type.per_person_limit,
        step: 1,
        value: 0,
      }),
      fewer: el("button", { type: "button", "aria-label": `One fewer ${type.name}` }, "−"),
      more: el("button", { type: "button", "aria-label": `One more ${type.name}` }, "+"),
      limit: el("span", { class: "muted small" }, ""),
    };
    controls.fewer.addEventListener("click", () => stepQuantity(type.id, -1));
    controls.more.addEventListener("click", () => stepQuantity(type.id, +1));
    controls.input.addEventListener("input", updateBuyTotal);
    controls.input.addEventListener("change", () => setQuantity(type.id, quantityOf(type.id)));
    page.buyRows.set(type.id, controls);
    rows.append(
      el(
        "div",
        { class: "buy-row", "data-type": type.id },
        el(
          "div",
          { class: "buy-row-head" },
          el("label", { for: inputId, class: "ticket-name" }, type.name),
          el("span", { class: "ticket-meta" }, formatMoney(type.price_cents, type.currency)),
        ),
        el("div", { class: "stepper" }, controls.fewer, controls.input, controls.more),
        controls.limit,
      ),
    );
  });
  updateBuyTotal();
}

function maxQuantity(typeId) {
  const type = page.typesById.get(typeId);
  const remaining = page.status ? page.status.remaining[typeId] : undefined;
  const most = Math.max(0, Math.min(type.per_person_limit, remaining ?? type.remaining));
  if (!buyingWithPresale()) return most;
  const link = page.presale;
  return link.ticket_type && link.ticket_type !== typeId ? 0 : Math.min(most, link.left);
}

/** Buying through the presale link: the fan has one and no queue turn right now. */
function buyingWithPresale() {
  return !!page.presale && !(page.status && page.status.admission);
}

/** The chosen quantity, within 0..max whatever was typed. */
function quantityOf(typeId) {
  const value = parseInt(page.buyRows.get(typeId).input.value, 10);
  return Number.isFinite(value) ? Math.min(Math.max(value, 0), maxQuantity(typeId)) : 0;
}

function setQuantity(typeId, quantity) {
  page.buyRows.get(typeId).input.value = String(quantity);
  updateBuyLimits();
}

function stepQuantity(typeId, delta) {
  setQuantity(typeId, Math.min(Math.max(quantityOf(typeId) + delta, 0), maxQuantity(typeId)));
}

function limitText(type, max) {
  if (max === 0) return "None left right now";
  if (max < type.per_person_limit) return `Only ${max} left`;
  return `Up to ${max} per person`;
}

/** Live stock can shrink while the fan chooses: keep every stepper within it. */
function updateBuyLimits() {
  for (const [typeId, controls] of page.buyRows) {
    const max = maxQuantity(typeId);
    const typed = parseInt(controls.input.value, 10);
    // Only pull a number down to the stock; leave a half-typed field alone.
    if (Number.isFinite(typed) && typed > max) controls.input.value = String(max);
    controls.input.max = String(max);
    controls.input.disabled = max === 0;
    controls.fewer.disabled = quantityOf(typeId) <= 0;
    controls.more.disabled = quantityOf(typeId) >= max;
    controls.limit.textContent = limitText(page.typesById.get(typeId), max);
  }
  updateBuyTotal();
}

function chosenItems() {
  return page.event.ticket_types
    .map((type) => ({ type: type.id, quantity: quantityOf(type.id) }))
    .filter((item) => item.quantity > 0);
}

function updateBuyTotal() {
  const cents = chosenItems().reduce(
    (sum, item) => sum + item.quantity * page.typesById.get(item.type).price_cents,
    0,
  );
  $("buy-total").textContent = formatMoney(cents, eventCurrency());
}

async function buyTickets(submitEvent) {
  submitEvent.preventDefault();
  clearError();
  const items = chosenItems();
  const admission = page.status && page.status.admission;
  if (items.length === 0) return showError("Choose at least one ticket.");
  if (buyingWithPresale()) return buyWithPresale(items);
  if (!admission) return showError("It is not your turn to buy yet.");
  setBuyPending(true);
  try {
    const answer = await callApi("POST", `${API}/purchases`, {
      admission_token: admission.token,
      items,
    });
    page.pendingRequestId = answer.request_id;
    // The answer normally comes on the socket; polling covers a socket that dropped.
    setTimeout(() => pollHoldRequest(answer.request_id), HOLD_POLL_AFTER_MS);
  } catch (error) {
    setBuyPending(false);
    showError(error.message);
  }
  render();
}

/** A presale hold is answered at once (and told to the fan's other tabs on their sockets). */
async function buyWithPresale(items) {
  setBuyPending(true);
  try {
    const answer = await callApi("POST", `${API}/presale/${encodeURIComponent(PRESALE_ID)}/holds`, {
      items,
    });
    page.presale.left -= items.reduce((sum, item) => sum + item.quantity, 0);
    renderPresale();
    handleHoldResult(answer);
  } catch (error) {
    showError(error.message);
  } finally {
    setBuyPending(false);
  }
  render();
}

async function loadPresale() {
  if (!PRESALE_ID) return;
  try {
    page.presale = await callApi("GET", `${API}/presale/${encodeURIComponent(PRESALE_ID)}`);
  } catch (error) {
    return showError(`This presale link cannot be used: ${error.message}`);
  }
  renderPresale();
}

function renderPresale() {
  const link = page.presale;
  const what = link.ticket_type ? ` of ${page.typesById.get(link.ticket_type).name}` : "";
  $("presale-banner").textContent =
    `Presale (${link.label}): up to ${link.left} ticket(s)${what} left on this link, ` +
    `until ${new Date(link.expires_at).toLocaleString()}. No need to wait for the queue.`;
  $("presale-banner").hidden = false;
}

function setBuyPending(pending) {
  $("buy-button").disabled = pending;
  $("buy-pending").hidden = !pending;
}

async function pollHoldRequest(requestId) {
  for (let tries = 0; tries < HOLD_POLL_MAX_TRIES; tries++) {
    if (page.pendingRequestId !== requestId) return; // the socket answered first
    try {
      const answer = await callApi("GET", `${API}/purchases/${encodeURIComponent(requestId)}`);
      if (answer.status !== "pending") return handleHoldResult(answer);
    } catch (error) {
      page.pendingRequestId = null;
      setBuyPending(false);
      showError(error.message);
      return render();
    }
    await new Promise((resolve) => setTimeout(resolve, HOLD_POLL_EVERY_MS));
  }
  if (page.pendingRequestId === requestId) {
    page.pendingRequestId = null;
    setBuyPending(false);
    showError("No answer to your request yet. Please try again.");
    render();
  }
}

// ---------- the hold: pay or let go ----------

function renderHold() {
  const hold = page.hold;
  const list = $("hold-items");
  list.replaceChildren();
  // After a reload the page knows the hold's id and deadline, not its items.
  $("hold-total-line").hidden = !hold.items;
  if (!hold.items) {
    list.append(el("li", {}, "The tickets you chose before this page was reloaded."));
    return;
  }
  let totalCents = 0;
  for (const [typeId, quantity] of hold.items) {
    const type = page.typesById.get(typeId);
    const cents = type ? type.price_cents * quantity : 0;
    totalCents += cents;
    list.append(
      el(
        "li",
        {},
        el("span", { class: "ticket-name" }, `${quantity} × ${type ? type.name : typeId}`),
        el("span", { class: "ticket-meta" }, type ? formatMoney(cents, type.currency) : ""),
      ),
    );
  }
  $("hold-total").textContent = formatMoney(totalCents, eventCurrency());
}

function setPaying(paying) {
  page.paying = paying;
  $("pay-button").disabled = paying;
  $("release-button").disabled = paying;
  $("pay-pending").hidden = !paying;
}

async function payForHold() {
  if (!page.hold) return;
  clearError();
  setPaying(true);
  // Optional: an empty field sends no body, and the server checks what is typed.
  const email = $("pay-email").value.trim();
  try {
    await callApi(
      "POST",
      `${API}/holds/${encodeURIComponent(page.hold.id)}/pay`,
      email ? { email } : undefined,
    );
  } catch (error) {
    setPaying(false);
    showError(error.message);
  }
  render();
}

async function releaseHold() {
  if (!page.hold) return;
  clearError();
  $("release-button").disabled = true;
  try {
    await callApi("POST", `${API}/holds/${encodeURIComponent(page.hold.id)}/release`);
    page.hold = null;
  } catch (error) {
    showError(error.message);
  }
  $("release-button").disabled = false;
  render();
}

// ---------- paying with Stripe ----------

const stripeScripts = new Map(); // Stripe.js URL -> Promise of window.Stripe

/** Adds Stripe.js to the page once; later calls reuse it. */
function loadStripeJs(url) {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  if (!stripeScripts.has(url)) {
    const loading = new Promise((resolve, reject) => {
      const script = el("script", { src: url, async: true });
      script.addEventListener("load", () =>
        window.Stripe ? resolve(window.Stripe) : reject(new Error("Stripe.js did not start")),
      );
      script.addEventListener("error", () => reject(new Error("Stripe.js could not be loaded")));
      document.head.append(script);
    });
    // A failed load may be tried again (the next "Pay" asks for a fresh one).
    loading.catch(() => stripeScripts.delete(url));
    stripeScripts.set(url, loading);
  }
  return stripeScripts.get(url);
}

/** The server started a Stripe payment for the hold: show Stripe's form for it. */
async function showStripeForm(payment) {
  const current = page.stripePay;
  if (current && current.clientSecret === payment.client_secret) return; // asked twice
  dropStripeForm();
  const pay = { holdId: payment.hold_id, clientSecret: payment.client_secret, stage: "loading" };
  page.stripePay = pay;
  render();
  try {
    const Stripe = await loadStripeJs(payment.stripe.js_url);
    if (page.stripePay !== pay) return; // the hold ended meanwhile
    pay.stripe = Stripe(payment.stripe.publishable_key);
    pay.elements = pay.stripe.elements({ clientSecret: pay.clientSecret });
    pay.element = pay.elements.create("payment");
    pay.stage = "form";
    render(); // the container is shown before Stripe measures it
    pay.element.mount($("payment-element"));
  } catch (error) {
    if (page.stripePay !== pay) return;
    dropStripeForm();
    showError(`The payment form could not be shown (${error.message}). Please try again.`);
  }
  render();
}

function dropStripeForm() {
  const pay = page.stripePay;
  page.stripePay = null;
  if (pay && pay.element && typeof pay.element.destroy === "function") {
    try {
      pay.element.destroy();
    } catch {
      // Already gone: nothing to tidy.
    }
  }
  $("payment-element").replaceChildren();
}

/** Stripe is busy with the payment, or it went through: the hold must stay shown. */
function stripeBusy() {
  return !!page.stripePay && ["confirming", "waiting"].includes(page.stripePay.stage);
}

/** Why the payment did not go through, or "" when it did (or is going through). */
function stripeFailure(result) {
  if (!result) return "";
  if (result.error) return result.error.message || "Your payment did not go through.";
  const intent = result.paymentIntent;
  if (!intent || INTENT_PAID.has(intent.status)) return "";
  const lastError = intent.last_payment_error;
  return (lastError && lastError.message) || "Your payment did not go through. Please try again.";
}

/** "Pay now": Stripe.js confirms (3-D Secure if the bank asks); the webhook makes the order. */
async function confirmStripePayment() {
  const pay = page.stripePay;
  if (!pay || pay.stage !== "form") return;
  clearError();
  pay.stage = "confirming";
  render();
  let result;
  try {
    if (typeof pay.stripe.confirmPayment === "function") {
      result = await pay.stripe.confirmPayment({
        elements: pay.elements,
        redirect: "if_required",
        confirmParams: { return_url: location.href },
      });
    } else {
      // Older Stripe.js (and localstripe's stand-in) has only the card flow.
      result = await pay.stripe.confirmCardPayment(pay.clientSecret, {
        payment_method: { card: pay.element },
      });
    }
  } catch (error) {
    result = { error: { message: error.message } };
  }
  if (page.stripePay !== pay) return; // the order (or the release) came first
  const failure = stripeFailure(result);
  pay.stage = failure ? "form" : "waiting";
  if (failure) showError(failure);
  render();
}

function renderStripeForm() {
  const pay = page.stripePay;
  const stage = pay ? pay.stage : "";
  // Once paid, the hold only waits for its order: no deadline, nothing to let go.
  const paid = stage === "waiting";
  $("stripe-pay").hidden = !pay;
  $("pay-email-field").hidden = !!pay;
  $("pay-button").hidden = !!pay;
  const payingParts = ["hold-deadline", "release-button", "release-note"];
  const formParts = ["payment-element-label", "payment-element", "stripe-confirm"];
  for (const id of [...payingParts, ...formParts]) $(id).hidden = paid;
  if (!pay) return;
  $("stripe-confirm").disabled = stage !== "form";
  $("release-button").disabled = stripeBusy();
  const text = {
    loading: "Loading the payment form…",
    form: "",
    confirming: "Processing your payment…",
    waiting: "Payment received, waiting for your tickets…",
  }[stage];
  const note = $("stripe-status");
  // Written only when it changes, so the status is read out once; #status
  // already announces the last two, so they are shown here but not read twice.
  if (note.textContent !== text) note.textContent = text;
  note.hidden = !text;
  note.setAttribute("aria-hidden", String(stripeBusy()));
}

// ---------- the order ----------

function renderOrder(order) {
  $("order-id").textContent = order.order_id;
  $("order-total").textContent = formatMoney(order.total_cents, order.currency);
  const list = $("ticket-codes");
  list.replaceChildren();
  for (const ticket of order.tickets) {
    const type = page.typesById.get(ticket.type);
    list.append(
      el(
        "li",
        {},
        el("span", { class: "muted small" }, type ? type.name : ticket.type),
        // The ticket page, with its QR code for the door.
        el(
          "a",
          { class: "ticket-code", href: `/tickets/${encodeURIComponent(ticket.code)}` },
          ticket.code,
        ),
      ),
    );
  }
}

// ---------- rendering the status ----------

function statusText(status) {
  if (status.state === "admitted") {
    if (page.stripePay && page.stripePay.stage === "waiting") {
      return "Payment received, waiting for your tickets…";
    }
    if (page.paying || stripeBusy()) return "Processing your payment…";
    if (page.hold) return "Your tickets are held: pay to keep them";
    if (page.pendingRequestId) return "Holding your tickets…";
  }
  return STATUS_TEXT[status.state] || status.state;
}

function renderPlace(status) {
  const hasNumber = status.number > 0;
  const queued = status.state === "queued";
  $("place").hidden = !hasNumber;
  $("place").classList.toggle("place-small", !queued);
  $("place-label").textContent = queued ? "Your number in the queue" : "Your queue number";
  $("queue-facts").hidden = !queued;
  $("serving-line").hidden = !queued;
  $("queue-number").textContent = hasNumber ? String(status.number) : "—";
  $("ahead").textContent = status.ahead === null || status.ahead === undefined ? "—" : String(status.ahead);
  $("wait").textContent = status.paused ? "—" : formatWait(status.wait_s);
  $("serving").textContent = String(status.serving ?? "—");
}

function render() {
  const status = page.status;
  if (!status) return;
  const state = status.state;
  $("state").dataset.state = state;
  // Only write the live region when its text changes, so it is read out once.
  const text = statusText(status);
  if ($("status").textContent !== text) $("status").textContent = text;
  $("paused-banner").hidden = !status.paused;
  $("panel-not-open").hidden = state !== "not_open";
  $("panel-waiting-room").hidden = state !== "waiting_room";
  $("panel-address-busy").hidden = state !== ADDRESS_BUSY;
  $("state-note").hidden = !STATE_NOTES[state] || (state === "done" && !!page.order);
  $("state-note").textContent = STATE_NOTES[state] || "";
  renderPlace(status);
  renderRemaining(status);

  // A presale link lets its fan shop whatever the queue says (until sold out).
  const presale = !!page.presale && state !== "sold_out";
  const admitted = (state === "admitted" || presale) && !page.order;
  $("buy-form").hidden = !(admitted && !page.hold);
  $("hold").hidden = !(admitted && page.hold);
  $("confirmation").hidden = !page.order;
  if (admitted && !page.hold) updateBuyLimits();
  if (admitted && page.hold) renderHold();
  $("turn-label").textContent = buyingWithPresale() ? "This presale link ends in" : "Your turn ends in";
  renderStripeForm();
  tickCountdowns();
}

/** Countdowns run on the page between messages. */
function tickCountdowns() {
  const status = page.status;
  if (!status) return;
  const now = serverNow();
  if (status.state === "not_open") {
    $("opens-countdown").textContent = formatCountdown(status.opens_at - now);
  } else if (status.state === "waiting_room") {
    $("drop-countdown").textContent =
      status.drop_at > now ? formatCountdown(status.drop_at - now) : "Drawing the queue…";
  } else if (status.state === ADDRESS_BUSY) {
    $("address-countdown").textContent = formatSeconds(page.addressBusyUntil - Date.now());
    // After the drop a late fan joins the back of the queue: waiting is no longer free.
    $("address-same-chance").hidden = !(status.drop_at > now);
  }
  if (status.admission) {
    $("turn-countdown").textContent = formatCountdown(status.admission.deadline_ms - now);
  } else if (page.presale) {
    $("turn-countdown").textContent = formatCountdown(Date.parse(page.presale.expires_at) - now);
  }
  if (page.hold && page.hold.expires_at) {
    $("hold-countdown").textContent = formatCountdown(page.hold.expires_at - now);
  }
}

// ---------- socket messages ----------

function handleStatus(status) {
  page.status = status;
  // The wait counts from when it was said; progress messages do not repeat it.
  page.addressBusyUntil =
    status.state === ADDRESS_BUSY ? Date.now() + (status.wait_s || 0) * 1000 : 0;
  const holdId = status.hold_id;
  if (holdId) {
    // A hold made on another tab, or before a reload: the deadline is the hold's.
    if (!page.hold || page.hold.id !== holdId) {
      page.hold = {
        id: holdId,
        items: null,
        expires_at: status.admission ? status.admission.deadline_ms : 0,
      };
    }
  } else if (page.hold && !page.paying && !stripeBusy()) {
    page.hold = null; // expired or let go
  }
  if (page.stripePay && (!page.hold || page.stripePay.holdId !== page.hold.id)) {
    dropStripeForm();
  }
  if (status.state !== "admitted" && !page.presale) {
    page.pendingRequestId = null;
    setBuyPending(false);
    setPaying(false);
    dropStripeForm();
  }
  render();
}

/** Fans ahead and the wait, as web/live.py's status_message works them out. */
function placeFigures(state, number, progress) {
  const ahead = number ? Math.max(0, number - progress.serving - 1) : null;
  const rate = progress.rate_per_min || 0;
  let waitS = null;
  if (state === "queued" && rate > 0 && !progress.paused) {
    // Whole numbers rounded half up, exactly as the server's wait_seconds.
    waitS = Math.floor(((ahead || 0) * 60 + Math.floor(rate / 2)) / rate);
  }
  return { ahead, wait_s: waitS };
}

/** The shared progress, applied to the fan's last status (its own place is unchanged). */
function handleProgress(progress) {
  const status = page.status;
  if (!status) return;
  const { t: _kind, ...shared } = progress;
  page.status = { ...status, ...shared, ...placeFigures(status.state, status.number, progress) };
  render();
}

function handleHoldResult(result) {
  const ours = result.request_id && result.request_id === page.pendingRequestId;
  if (ours) {
    page.pendingRequestId = null;
    setBuyPending(false);
  }
  if (result.ok) {
    // Another tab of the same fan may have held: the hold is the fan's either way.
    page.hold = {
      id: result.hold.id,
      items: result.hold.items,
      expires_at: result.hold.expires_at,
    };
    clearError();
  } else if (ours) {
    showError(result.message);
  }
  render();
}

/** The hold ended (paid for, refunded, let go): drop it and its payment form. */
function endHold(holdId) {
  if (page.hold && (!holdId || page.hold.id === holdId)) page.hold = null;
  if (page.stripePay && (!holdId || page.stripePay.holdId === holdId)) dropStripeForm();
}

function handleOrder(order) {
  setPaying(false);
  if (order.ok) {
    page.order = order;
    page.hold = null;
    endHold(order.hold_id);
    renderOrder(order);
    clearError();
  } else {
    // A payment that came too late to buy tickets: the money went back, the hold is gone.
    if (order.code === "refunded") endHold(order.hold_id);
    showError(order.message);
  }
  render();
}

function handlePayment(payment) {
  if (payment.ok === false) {
    setPaying(false);
    // A failed or cancelled payment let the tickets go.
    if (payment.released) endHold(payment.hold_id);
    showError(payment.message);
  } else if (payment.pending && payment.provider === "stripe" && payment.stripe) {
    setPaying(false);
    showStripeForm(payment);
    return;
  } else if (payment.pending) {
    setPaying(true);
  }
  render();
}

/** The organiser cancelled this order: the money went back and its tickets are void. */
function handleOrderRefunded(refund) {
  if (!page.order || page.order.order_id !== refund.order_id) return;
  const notice = $("order-refunded");
  notice.textContent =
    `This order was cancelled and refunded (refund ${refund.refund_ref}). ` +
    "Its tickets no longer let you in.";
  notice.hidden = false;
}

function handleReleased(released) {
  endHold(released.hold_id);
  page.hold = null;
  render();
}

function handleSocketMessage(message) {
  switch (message.t) {
    case "status":
      return handleStatus(message);
    case "progress":
      return handleProgress(message);
    case "hold_result":
      return handleHoldResult(message);
    case "order":
      return handleOrder(message);
    case "payment":
      return handlePayment(message);
    case "released":
      return handleReleased(message);
    case "order_refunded":
      return handleOrderRefunded(message);
    case "error":
      return showError(message.message);
    default:
      return undefined; // "pong" and anything newer than this page
  }
}

// ---------- the socket ----------

function setConnection(text) {
  $("connection").textContent = text;
}

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws/events/${encodeURIComponent(EVENT_ID)}`;
}

function connectSocket() {
  const socket = new WebSocket(socketUrl());
  page.socket = socket;
  socket.addEventListener("open", () => setConnection("Live"));
  socket.addEventListener("message", (event) => {
    page.reconnectAttempt = 0;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    handleSocketMessage(message);
  });
  socket.addEventListener("close", (event) => onSocketClosed(event.code));
}

async function onSocketClosed(code) {
  page.socket = null;
  if (code === CLOSE_UNKNOWN_EVENT) {
    setConnection("Offline");
    return;
  }
  if (code === CLOSE_NO_FAN || code === CLOSE_NO_PROOF) {
    // The fan cookie is gone (cleared, or expired), or this fan has not proved
    // its work here (Redis lost the sale): joining again sets it right, and
    // joining is idempotent when the place is still there.
    try {
      const joined = await joinWhenPlaced();
      if (page.status && page.status.state === ADDRESS_BUSY) {
        handleStatus(statusFromJoin(joined, page.event));
      }
    } catch (error) {
      showError(error.message);
    }
  }
  const delays = RECONNECT_DELAYS_MS;
  const delay = delays[Math.min(page.reconnectAttempt, delays.length - 1)];
  page.reconnectAttempt += 1;
  setConnection(`Reconnecting in ${Math.round(delay / 1000)} s…`);
  setTimeout(connectSocket, delay);
}

function pingSocket() {
  if (page.socket && page.socket.readyState === WebSocket.OPEN) {
    page.socket.send('{"t":"ping"}');
  }
}

// ---------- start ----------

/** A first picture from the join answer, replaced by the socket's first status. */
function statusFromJoin(joined, event) {
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
    opens_at: Date.parse(event.opens_at),
    drop_at: Date.parse(event.drop_at),
    admission: joined.admission,
    hold_id: joined.hold_id || "",
  };
}

// The join answers that signing in (as someone else) can mend.
const SIGN_IN_CODES = new Set(["sign_in_required", "not_on_list"]);

/** The small "Checking your browser" line (a live region of its own) on or off. */
function showChecking(on = true) {
  $("checking").hidden = !on;
  $("checking").textContent = on ? CHECKING_TEXT : "";
}

/** Starts this browser's proof of work for its join, if the sale asks for one. */
function startProof() {
  // Any failure here is the join's to explain: it says what it needs.
  page.proof = proofForJoin(API, showChecking).catch(() => null);
}

// A join refused for now: its address placed its share of new fans, or this
// browser joined too often (a reload loop). Either way: wait, then again.
const JOIN_LATER_CODES = new Set([ADDRESS_BUSY, "too_many_requests"]);

/** A join refused for now by the rate limits. */
function isJoinBusy(error) {
  return error.httpStatus === 429 && JOIN_LATER_CODES.has(error.code);
}

/**
 * One join, with a solution or none. A join refused for its address keeps its
 * solution for the retry: the server refuses before it checks the proof, so
 * the solution is still unused (or, refused after, it bought the session the
 * answer set, and the retry needs none: joinWithProof).
 */
async function postJoin(solution) {
  try {
    return await callApi("POST", `${API}/join`, solution ? { altcha: solution } : undefined);
  } catch (error) {
    if (solution && isJoinBusy(error)) {
      page.proof = Promise.resolve(solution);
      page.proofKept = true;
    }
    throw error;
  }
}

/**
 * Joins with the solution begun when the page opened (a solution works once,
 * so it is dropped here); when the server asks for a proof, or refuses this
 * one (expired, say), solves a fresh challenge and joins once more. A solution
 * kept from a join refused for its address that the server now refuses was
 * spent on this browser's session: a plain join needs no new one.
 */
async function joinWithProof() {
  const pending = page.proof;
  const kept = page.proofKept;
  page.proof = null;
  page.proofKept = false;
  try {
    const solution = pending ? await pending : null;
    try {
      return await postJoin(solution);
    } catch (error) {
      if (!PROOF_CODES.has(error.code)) throw error;
      if (kept && error.code === "invalid_proof_of_work") {
        try {
          return await postJoin(null);
        } catch (plain) {
          if (plain.code !== "proof_of_work_required") throw plain;
        }
      }
      const fresh = await proofForJoin(API, showChecking);
      return await postJoin(fresh);
    }
  } finally {
    showChecking(false);
  }
}

/** The status to show while this page waits to join again after a join refused for now. */
function addressBusyStatus(waitS) {
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

/**
 * Waits out a join refused for now (its Retry-After, at least a second, plus
 * a little at random), saying so calmly (the place card for its address's
 * share), not as an error.
 */
async function waitToJoinAgain(error) {
  const waitMs =
    Math.max(1, error.retryAfterS || 0) * 1000 + Math.random() * JOIN_RETRY_JITTER_MS;
  if (error.code === ADDRESS_BUSY) {
    handleStatus(addressBusyStatus(waitMs / 1000));
    setConnection("Waiting for a place");
  } else {
    setConnection(`Too many tries: joining again in ${Math.ceil(waitMs / 1000)} s`);
  }
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  setConnection("Joining…");
}

/** Joins, waiting and asking again by itself for as long as the rate limits say "not yet". */
async function joinWhenPlaced() {
  for (;;) {
    try {
      return await joinWithProof();
    } catch (error) {
      if (!isJoinBusy(error)) throw error;
      await waitToJoinAgain(error);
    }
  }
}

/** Joins, signing in first when the sale's policy asks; the join answer. */
async function joinSale() {
  for (;;) {
    try {
      return await joinWhenPlaced();
    } catch (error) {
      if (!SIGN_IN_CODES.has(error.code)) throw error;
      setConnection("Not signed in");
      $("status").textContent = "Sign in to join";
      await signIn(page.event, error);
      clearError();
    }
  }
}

async function start() {
  wireSignIn();
  $("buy-form").addEventListener("submit", buyTickets);
  $("pay-button").addEventListener("click", payForHold);
  $("release-button").addEventListener("click", releaseHold);
  $("stripe-confirm").addEventListener("click", confirmStripePayment);
  if (!EVENT_ID) {
    $("event-name").textContent = "fairdrop";
    $("status").textContent = "No sale here";
    setConnection("Offline");
    return showError("This address does not name a sale: fan pages live at /e/<event id>.");
  }
  // At once, so the work is done while the page loads and the fan reads it.
  startProof();
  try {
    page.event = await callApi("GET", API);
  } catch (error) {
    $("event-name").textContent = "fairdrop";
    $("status").textContent = error.httpStatus === 404 ? "No such sale" : "The sale could not be loaded";
    setConnection("Offline");
    return showError(error.message);
  }
  page.typesById = new Map(page.event.ticket_types.map((t) => [t.id, t]));
  renderEvent(page.event);
  await renderAccess(page.event);
  // From here: a join refused for now counts down while the page waits.
  setInterval(tickCountdowns, COUNTDOWN_EVERY_MS);
  try {
    const joined = await joinSale();
    handleStatus(statusFromJoin(joined, page.event));
  } catch (error) {
    setConnection("Offline");
    return showError(error.message);
  }
  await loadPresale();
  render();
  connectSocket();
  setInterval(pingSocket, PING_EVERY_MS);
}

start();
