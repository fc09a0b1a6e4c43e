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
//
// This entry module wires the page and starts it; the rest lives in:
//   queue_state.js       the page's state, server time, the fan's place
//   queue_format.js      prices, countdowns and waits in words
//   queue_buy_form.js    the buy form's steppers and total
//   queue_render.js      every DOM update
//   queue_messages.js    what each socket message does
//   queue_holds.js       buy, pay for the hold, let it go (HTTP)
//   queue_stripe.js      paying with Stripe's Payment Element
//   queue_connection.js  joining (proof of work, sign-in, waits) and the socket
//   queue_receipt.js     the commitment seen at join and the entry receipt, kept
//   queue_verify.js      this browser's own check of the published draw
import { $, showError } from "/static/common.js";
import { joinSale, queueAgain, startProof, startSocket, whenAvailable } from "/static/queue_connection.js";
import { buyTickets, loadPresale, payForHold, releaseHold } from "/static/queue_holds.js";
import { handleStatus } from "/static/queue_messages.js";
import { render, renderEvent, setConnection, tickCountdowns } from "/static/queue_render.js";
import { wireReceipt } from "/static/queue_receipt.js";
import { API, EVENT_ID, callApi, page, statusFromJoin } from "/static/queue_state.js";
import { confirmStripePayment } from "/static/queue_stripe.js";
import { startDrawCheck } from "/static/queue_verify.js";
import { renderAccess, wireSignIn } from "/static/sign_in.js";

const COUNTDOWN_EVERY_MS = 250;

async function start() {
  wireSignIn();
  $("buy-form").addEventListener("submit", buyTickets);
  $("pay-button").addEventListener("click", payForHold);
  $("release-button").addEventListener("click", releaseHold);
  $("queue-again").addEventListener("click", queueAgain);
  $("stripe-confirm").addEventListener("click", confirmStripePayment);
  wireReceipt();
  if (!EVENT_ID) {
    $("event-name").textContent = "fairdrop";
    $("status").textContent = "No sale here";
    setConnection("Offline");
    return showError("This address does not name a sale: fan pages live at /e/<event id>.");
  }
  // At once, so the work is done while the page loads and the fan reads it.
  startProof();
  try {
    page.event = await whenAvailable(() => callApi("GET", API));
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
    // Runs beside the sale: keeps the receipt, then checks the draw once published.
    startDrawCheck(joined);
  } catch (error) {
    setConnection("Offline");
    return showError(error.message);
  }
  await loadPresale();
  render();
  startSocket();
}

start();
