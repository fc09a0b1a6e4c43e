// What the fan page does with each socket message: a "status" replaces the
// fan's place, a "progress" updates the figures every fan shares, and the
// answers about holds, payments and orders update the hold and the order.
// The "order" message is said once; a page that was reloaded or whose socket
// was down then asks GET .../orders/mine instead (loadMyOrders).
import { $, clearError, showError } from "/static/common.js";
import { render, renderOrder, setBuyPending, setPaying } from "/static/queue_render.js";
import { ADDRESS_BUSY, API, callApi, page, placeFigures, stripeBusy } from "/static/queue_state.js";
import { dropStripeForm, showStripeForm } from "/static/queue_stripe.js";

export function handleStatus(status) {
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
  // Each socket (re)connect and the page's first picture come through here.
  if (status.state === "done") loadMyOrders();
  render();
}

/** The shared progress, applied to the fan's last status (its own place is unchanged). */
function handleProgress(progress) {
  const status = page.status;
  if (!status) return;
  const { t: _kind, ...shared } = progress;
  page.status = { ...status, ...shared, ...placeFigures(status.state, status.number, progress) };
  render();
}

export function handleHoldResult(result) {
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
      // A discounted hold's price, as the server computed it (purchase/jobs.py).
      price: result.price,
      discount: result.hold.discount,
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

const ORDER_POLL_EVERY_MS = 2_000;
const ORDER_POLL_MAX_TRIES = 30;
let loadingOrders = false;

/**
 * The fan's order from the server, when this page has none: the fan bought
 * (state "done", or a pay click refused because the hold is confirmed) but
 * the socket's "order" message was missed. A paid order not written yet (its
 * worker died and its job is being run again) shows up within seconds, so
 * the page asks again a while.
 */
export async function loadMyOrders() {
  if (page.order || loadingOrders) return;
  loadingOrders = true;
  try {
    for (let tries = 0; tries < ORDER_POLL_MAX_TRIES && !page.order; tries++) {
      const { orders } = await callApi("GET", `${API}/orders/mine`);
      const latest = orders[orders.length - 1];
      if (latest) {
        handleOrder(latest);
        if (latest.status === "refunded") handleOrderRefunded(latest);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, ORDER_POLL_EVERY_MS));
    }
  } catch {
    // Not signed in here, or the server is away: the socket may still say it.
  } finally {
    loadingOrders = false;
  }
}

/** The organiser cancelled this order: the money went back and its tickets are void. */
function handleOrderRefunded(refund) {
  if (!page.order || page.order.order_id !== refund.order_id) return;
  const notice = $("order-refunded");
  notice.textContent =
    `This order was cancelled and refunded (refund ${refund.refund_ref}). ` +
    "Its tickets no longer let you in.";
  notice.hidden = false;
  page.refunded = true; // the heading no longer says "You have your tickets"
  render();
}

function handleReleased(released) {
  endHold(released.hold_id);
  page.hold = null;
  // Only the fan's own release says "released" (purchase/jobs.py): an expiry does not.
  page.letGo = true;
  render();
}

/**
 * One socket frame: its message, then the fan's new status when an answer
 * carries one inside (a hold's result, an order: one frame, not two).
 */
export function handleSocketMessage(message) {
  handleOneMessage(message);
  const status = message.t !== "status" ? message.status : null;
  if (status && typeof status === "object") handleStatus(status);
}

function handleOneMessage(message) {
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
