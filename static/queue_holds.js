// The fan's clicks on the HTTP API: buy (a hold request, answered on the
// socket or by polling; or a presale hold, answered at once), pay for the
// hold, or let it go.
import { $, clearError, showError } from "/static/common.js";
import { chosenItems, discountCode } from "/static/queue_buy_form.js";
import { handleHoldResult, loadMyOrders } from "/static/queue_messages.js";
import { render, renderPresale, setBuyPending, setPaying } from "/static/queue_render.js";
import { API, PRESALE_ID, buyingWithPresale, callApi, page } from "/static/queue_state.js";

const HOLD_POLL_AFTER_MS = 5_000;
const HOLD_POLL_EVERY_MS = 1_000;
const HOLD_POLL_MAX_TRIES = 60;

// ---------- buying ----------

export async function buyTickets(submitEvent) {
  submitEvent.preventDefault();
  clearError();
  const items = chosenItems();
  const admission = page.status && page.status.admission;
  if (items.length === 0) return showError("Choose at least one ticket.");
  if (buyingWithPresale()) return buyWithPresale(items);
  if (!admission) return showError("It is not your turn to buy yet.");
  setBuyPending(true);
  try {
    const code = discountCode();
    const answer = await callApi("POST", `${API}/purchases`, {
      admission_token: admission.token,
      items,
      ...(code ? { discount_code: code } : {}),
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

export async function loadPresale() {
  if (!PRESALE_ID) return;
  try {
    page.presale = await callApi("GET", `${API}/presale/${encodeURIComponent(PRESALE_ID)}`);
  } catch (error) {
    return showError(`This presale link cannot be used: ${error.message}`);
  }
  renderPresale();
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

export async function payForHold() {
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
    // A second click after the payment went through: the hold is confirmed,
    // and the order (perhaps missed on the socket) is what to show.
    if (error.code === "hold_expired" && /confirmed/.test(error.message)) loadMyOrders();
    else showError(error.message);
  }
  render();
}

export async function releaseHold() {
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
