// The fan page's DOM updates: the event and its ticket types, the status and
// the fan's place, the panels for each state, the hold, the Stripe form's
// parts, the order, the countdowns and the small status lines. Everything
// here only shows what the state (queue_state.js) says.
import { $, el } from "/static/common.js";
import { buildBuyRows, updateBuyLimits } from "/static/queue_buy_form.js";
import { formatCountdown, formatMoney, formatSeconds, formatWait } from "/static/queue_format.js";
import {
  ADDRESS_BUSY,
  API,
  buyingWithPresale,
  eventCurrency,
  page,
  serverNow,
  stripeBusy,
} from "/static/queue_state.js";

const CHECKING_TEXT = "Checking your browser… (a few seconds at most)";

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

// ---------- the event and its ticket types ----------

export function renderEvent(event) {
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

export function renderPresale() {
  const link = page.presale;
  const what = link.ticket_type ? ` of ${page.typesById.get(link.ticket_type).name}` : "";
  $("presale-banner").textContent =
    `Presale (${link.label}): up to ${link.left} ticket(s)${what} left on this link, ` +
    `until ${new Date(link.expires_at).toLocaleString()}. No need to wait for the queue.`;
  $("presale-banner").hidden = false;
}

// ---------- buying and paying ----------

export function setBuyPending(pending) {
  $("buy-button").disabled = pending;
  $("buy-pending").hidden = !pending;
}

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

export function setPaying(paying) {
  page.paying = paying;
  $("pay-button").disabled = paying;
  $("release-button").disabled = paying;
  $("pay-pending").hidden = !paying;
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

export function renderOrder(order) {
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

// ---------- the status ----------

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

export function render() {
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
export function tickCountdowns() {
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

// ---------- small status lines ----------

export function setConnection(text) {
  $("connection").textContent = text;
}

/** The small "Checking your browser" line (a live region of its own) on or off. */
export function showChecking(on = true) {
  $("checking").hidden = !on;
  $("checking").textContent = on ? CHECKING_TEXT : "";
}
