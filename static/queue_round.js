// A resale round on the fan page (buffer/rounds.py). Once a sale has sold
// out, tickets that come back with nobody left in line are not handed to
// whoever asks first (a script would): the clock opens a short window, and
// everyone who enters it is drawn in random order. Every status and progress
// message carries the latest round (SaleFigures): `round` (0 before any),
// `round_state` ("buffering" while open, "drawing", "" once drawn),
// `round_drop_at` (server epoch ms the window closes) and `round_entered`.
//
// Three kinds of fan see it: one waiting in the round's draw (state
// waiting_room after the sale's own draw), one who may enter it (a turn that
// ended unbought, or a page turned away as sold out: the "queue again"
// control), and one queued by it (a note under the place).
import { $ } from "/static/common.js";
import { formatCountdown, plural } from "/static/queue_format.js";
import { page, serverNow } from "/static/queue_state.js";

// The sale's own phases before its numbers: a waiting room then is its window's.
const BEFORE_NUMBERS = new Set(["scheduled", "buffering", "drawing"]);

/** The round's window is open: whoever enters now is in its draw. */
function roundOpen(status) {
  return status.round_state === "buffering";
}

/** Open, or not known yet: a join's answer (the page's first picture) has no
 * round figures, and a fan it put in a round came while the window was open. */
function windowOpen(status) {
  return status.round_state === undefined || roundOpen(status);
}

/** This fan waits in a resale round's draw, not in the sale's own window (nor
 * for the number its draw gave, which the socket learns a moment after it). */
export function inRound(status) {
  const sale = status.event_state || (page.event && page.event.state) || "";
  const afterItsDraw = sale !== "" && !BEFORE_NUMBERS.has(sale);
  return status.state === "waiting_room" && afterItsDraw && status.round !== 0;
}

/** A page turned away as sold out, and the sale selling again: tickets came back. */
function turnedAwayAndBack(status) {
  return (
    status.state === "sold_out" &&
    !status.number &&
    status.event_state === "queueing" &&
    status.remaining_total > 0
  );
}

/** Whether the page offers its "queue again" control, and what it then does
 * (queue_connection.js queueAgain): a turn that ended unbought queues again,
 * a page turned away as sold out joins; in an open round both enter its draw. */
export function offersEntry(status) {
  const turnOver = status.state === "turn_over" && status.remaining_total > 0;
  return turnOver || turnedAwayAndBack(status);
}

function offersRound(status) {
  return roundOpen(status) && offersEntry(status);
}

/** When the window closes, on this device's clock. */
function closesAt(status) {
  const at = new Date(status.round_drop_at - page.clockOffsetMs);
  return at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function enteredLine(status) {
  const entered = status.round_entered;
  if (entered === undefined) return ""; // a join's answer: the socket's status says
  if (windowOpen(status)) {
    if (!entered) return "Nobody has entered yet.";
    return `${plural(entered, "fan")} ${entered === 1 ? "has" : "have"} entered so far.`;
  }
  return entered ? `${plural(entered, "fan")} entered.` : "";
}

/** The status line for a round, or "" when the page's usual one stands. */
export function roundStatusText(status) {
  if (inRound(status)) {
    return windowOpen(status) ? "You're in the draw for returned tickets" : "Drawing the order…";
  }
  if (offersRound(status)) return "Tickets came back: you can enter the draw";
  if (turnedAwayAndBack(status)) return "Some tickets came back";
  return "";
}

/** The note under the place for a round, or null when the page's usual one stands. */
export function roundNote(status) {
  if (inRound(status)) return "";
  if (status.state === "queued" && status.round > 0 && status.number > status.drawn) {
    return (
      "Tickets came back after the sale sold out, so places were drawn in random order " +
      "among everyone who entered a short window; fans who came later are behind them, " +
      "in the order they came."
    );
  }
  if (status.state === "sold_out" && offersRound(status)) return "";
  if (turnedAwayAndBack(status)) {
    return (
      "Fans already in line get them first, in order. Queue now to come after them, in " +
      "case any are left."
    );
  }
  return null;
}

function lead(status) {
  if (!windowOpen(status)) {
    return (
      "The draw is running: everyone who entered gets a place in random order, after " +
      "every fan already in line. Your place shows here in a moment."
    );
  }
  const before = status.round_drop_at ? ` before ${closesAt(status)}` : " in the next moments";
  if (inRound(status)) {
    return (
      `Tickets came back after the sale sold out. Everyone who arrives${before} is ` +
      "drawn in random order, so arriving early gives no edge and there is no need to refresh."
    );
  }
  return (
    `Tickets came back after the sale sold out. Everyone who enters the draw${before} ` +
    "gets a place in random order, so entering early gives no edge."
  );
}

/** The round's panel and the "queue again" control's words. */
export function renderRound(status) {
  const shown = inRound(status) || offersRound(status);
  const panel = $("panel-round");
  panel.hidden = !shown;
  panel.dataset.roundState = shown ? (status.round_state ?? "buffering") || "drawn" : "";
  $("queue-again-line").hidden = !offersEntry(status);
  const label = offersRound(status)
    ? "Enter the draw"
    : turnedAwayAndBack(status)
      ? "Queue at the back"
      : "Queue again at the back";
  if ($("queue-again").textContent !== label) $("queue-again").textContent = label;
  if (!shown) return;
  const text = lead(status);
  if ($("round-lead").textContent !== text) $("round-lead").textContent = text;
  $("round-timer").hidden = !windowOpen(status);
  $("round-entered").textContent = enteredLine(status);
  tickRound(status);
}

/** The countdown to the window's close, between messages. */
export function tickRound(status) {
  if ($("panel-round").hidden || !windowOpen(status)) return;
  const left = status.round_drop_at - serverNow();
  let text = "—"; // a join's answer: the socket's status brings the close
  if (status.round_drop_at) text = left > 0 ? formatCountdown(left) : "Drawing…";
  $("round-countdown").textContent = text;
}
