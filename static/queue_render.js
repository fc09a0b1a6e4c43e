// The fan page's DOM updates: the event and its ticket types, the status and
// the fan's place, the panels for each state, the hold, the Stripe form's
// parts, the order, the countdowns and the small status lines. Everything
// here only shows what the state (queue_state.js) says.
import { $, el } from "/static/common.js";
import { buildBuyRows, showHoldPrice, updateBuyLimits } from "/static/queue_buy_form.js";
import {
  formatCountdown,
  formatMoney,
  formatSeconds,
  formatWait,
  plural,
} from "/static/queue_format.js";
import { admissionWaitS, chanceWords, ticketChance } from "/static/queue_odds.js";
import { inRound, renderRound, roundNote, roundStatusText, tickRound } from "/static/queue_round.js";
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

// Your turn, and every ticket left is held by other fans paying now: not sold
// out (an unpaid hold gives its tickets back), but nothing to buy this moment.
const IN_BASKETS_TEXT = "Everything left is in other fans' baskets";
const IN_BASKETS_NOTE =
  "If a basket is let go or its time runs out before your turn ends, you can buy " +
  "its tickets here: keep this page open.";

// ---------- the event and its ticket types ----------

export function renderEvent(event) {
  document.title = `${event.name} · fairdrop`;
  $("event-name").textContent = event.name;
  const opens = new Date(event.opens_at).toLocaleString();
  const drop = new Date(event.drop_at).toLocaleString();
  $("event-when").textContent = `Waiting room opens ${opens} · drop ${drop}`;
  $("seed-hash").textContent = event.seed_hash || "—";
  $("draw-link").href = `${API}/draw`;
  $("fairness-link").href = `/e/${encodeURIComponent(event.id)}/fairness`;
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
  showHoldPrice(hold.price, hold.discount);
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
    if (inBaskets(status)) return IN_BASKETS_TEXT;
  }
  if (status.state === "done" && page.refunded) return "Your order was refunded";
  return roundStatusText(status) || STATUS_TEXT[status.state] || status.state;
}

/** Let in, nothing of its own, and nothing left that is not in someone's basket. */
function inBaskets(status) {
  const mine = !!page.hold || !!page.presale;
  return status.state === "admitted" && !mine && status.remaining_total === 0;
}

// A fan who clicked "Let them go" ended the turn themselves: not "your time ran out".
const LET_GO_NOTE = "You let your tickets go: they went back on sale for the fans after you.";

// A fan placed after the drawn entrants (they came after the window closed).
function lateNote(status) {
  const one = status.drawn === 1;
  return (
    `You came after the draw: ${status.drawn} ${one ? "fan" : "fans"} arrived while the ` +
    `waiting room was open and ${one ? "was" : "were"} drawn ahead of you; everyone who ` +
    "comes after the draw joins behind them, in the order they arrive."
  );
}

function stateNote(status) {
  if (inBaskets(status)) return IN_BASKETS_NOTE;
  const round = roundNote(status);
  if (round !== null) return round;
  if (status.state === "queued" && status.drawn > 0 && status.number > status.drawn) {
    return lateNote(status);
  }
  if (status.state === "turn_over" && page.letGo) return LET_GO_NOTE;
  if (status.state === "done" && (page.order || page.refunded)) return "";
  return STATE_NOTES[status.state] || "";
}

/** The wait a queued fan reads: counted down from the rate, or what it waits for. */
function waitText(status) {
  if (status.paused) return "—";
  // A join's answer has no rate: the wait it was told (queue_state.js placeFigures).
  if (!status.rate_per_min) return formatWait(status.wait_s);
  if (status.admit_limit === "stock") {
    return status.remaining_total > 0 ? "when fans ahead have chosen" : "when tickets come back";
  }
  if (status.admit_limit === "cap") return "when fans ahead have finished";
  const waitS = admissionWaitS(
    status.ahead || 0,
    status.next_admit_ms ?? null,
    status.rate_per_min,
    serverNow(),
  );
  return formatWait(waitS);
}

/** The odds panel, under the serving line (built here, so the page's HTML stays as it is). */
function buildOddsPanel() {
  const panel = el(
    "div",
    { id: "odds", class: "odds", "data-testid": "odds", hidden: true },
    el("progress", { id: "queue-progress", "data-testid": "queue-progress", max: 1, value: 0 }),
    el("p", { id: "room-line", "data-testid": "room-line" }),
    el(
      "p",
      { class: "chance-line" },
      "Your chance of a ticket: ",
      el("strong", { id: "chance-words", "data-testid": "chance" }),
    ),
    el("p", { id: "odds-basis", class: "muted small", "data-testid": "odds-basis" }),
  );
  $("serving-line").after(panel);
}

/** The queued fan's odds: progress to its number, the room against the tickets, the chance. */
function renderOdds(status) {
  if (!$("odds")) buildOddsPanel();
  // A join's answer has none of the room's figures: shown from the socket's first status.
  const shown = status.state === "queued" && status.number > 0 && status.in_room !== undefined;
  $("odds").hidden = !shown;
  if (!shown) return;
  const bar = $("queue-progress");
  bar.max = status.number;
  bar.value = Math.min(status.serving, status.number);
  bar.setAttribute(
    "aria-label",
    `Numbers up to ${status.serving} let in; yours is ${status.number}`,
  );
  $("room-line").textContent =
    `${plural(status.in_room ?? 0, "fan")} in the room for ` +
    `${plural(status.remaining_total, "ticket")} left`;
  const chance = ticketChance(status.number, status);
  $("chance-words").textContent = chanceWords(chance);
  $("odds").dataset.chance = chance.toFixed(3);
  const perBuyer = status.buyers
    ? `${status.per_buyer.toFixed(1)} tickets per buyer so far`
    : `nobody has bought yet (up to ${status.most_per_fan} each)`;
  const held = status.held ? `, ${status.held} in other fans' baskets` : "";
  $("odds-basis").textContent = `From ${status.remaining_total} left${held}; ${perBuyer}.`;
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
  $("wait").textContent = waitText(status);
  $("serving").textContent = String(status.serving ?? "—");
  renderOdds(status);
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
  // The organiser's words when they gave some (a status from before a sale had them has none).
  const pauseMessage = status.pause_message || "The organiser is making a change.";
  if ($("pause-message").textContent !== pauseMessage) $("pause-message").textContent = pauseMessage;
  $("panel-not-open").hidden = state !== "not_open";
  $("panel-waiting-room").hidden = state !== "waiting_room" || inRound(status);
  $("panel-address-busy").hidden = state !== ADDRESS_BUSY;
  // A resale round's panel, and whether the fan may queue again (or enter its draw).
  renderRound(status);
  const note = stateNote(status);
  $("state-note").hidden = !note;
  $("state-note").textContent = note;
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
  if (status.state === "queued") $("wait").textContent = waitText(status);
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
  tickRound(status);
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
