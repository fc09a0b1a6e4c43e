// The organiser dashboard's orders: found by order id, email or ticket code,
// a page at a time (newest first), each with its full id, buyer, tickets and
// their check-ins, and a Cancel that refunds it.
import { $, clearError, el, showError } from "/static/common.js";
import { callApi, eventPath } from "/static/organiser_api.js";

// Orders a page; the table's data-page-size may set another (the page tests use 2).
const PAGE_SIZE = 50;
const pageSize = () => Number($("orders").dataset.pageSize) || PAGE_SIZE;
const orders = {
  eventId: () => "",
  query: "", // the search the shown pages are of
  pages: [], // the "after" of each page shown so far: [null, id, ...]
  generation: 0, // bumps on every request and new sale: only the latest answer renders
};

function ordersPath(after) {
  const params = new URLSearchParams();
  if (orders.query) params.set("q", orders.query);
  if (after) params.set("after", after);
  params.set("limit", String(pageSize()));
  return eventPath(orders.eventId(), `/orders?${params}`);
}

async function loadPage(after) {
  clearError();
  const generation = ++orders.generation;
  try {
    const answer = await callApi("GET", ordersPath(after));
    if (generation !== orders.generation) return;
    renderOrders(answer);
  } catch (error) {
    if (generation === orders.generation) showError(error.message);
  }
}

/** The first page of the search in the box (all orders when it is empty). */
export function loadOrders() {
  orders.query = $("orders-q").value.trim();
  orders.pages = [null];
  return loadPage(null);
}

function nextPage() {
  const after = $("orders-next").dataset.after;
  orders.pages.push(after);
  return loadPage(after);
}

function previousPage() {
  orders.pages.pop();
  return loadPage(orders.pages[orders.pages.length - 1]);
}

function ticketLine(ticket) {
  const where = ticket.checked_in_by ? ` at ${ticket.checked_in_by}` : "";
  const state = ticket.checked_in_at
    ? `in${where}, ${new Date(ticket.checked_in_at).toLocaleString()}`
    : "not checked in";
  return el("li", { class: "ticket-line" }, el("code", { class: "wrap" }, ticket.code), el("small", {}, state));
}

function orderRow(order) {
  const total = `${(order.total_cents / 100).toFixed(2)} ${order.currency}`;
  // "refunding" is a cancel that stopped half-way: cancelling again finishes it.
  const cancellable = order.status === "paid" || order.status === "refunding";
  const button = el("button", { type: "button", "aria-label": `Cancel and refund order ${order.id}` }, "Cancel");
  button.addEventListener("click", () => cancelOrder(order.id, button));
  const status = order.status === "paid" ? "paid" : order.status === "refunding" ? "refund unfinished" : "refunded";
  return el(
    "tr",
    { "data-order": order.id },
    el("td", {}, el("code", { class: "wrap" }, order.id)),
    el("td", { class: "text wrap" }, order.email || order.buyer || "—"),
    el("td", { class: "text" }, el("ul", { class: "plain-list" }, ...order.tickets.map(ticketLine))),
    el("td", {}, total),
    el("td", {}, status),
    el("td", {}, cancellable ? button : ""),
  );
}

function renderOrders(answer) {
  const rows = answer.orders.map(orderRow);
  if (!rows.length) {
    const none = orders.query ? `No order matches “${orders.query}”.` : "No orders yet.";
    rows.push(el("tr", {}, el("td", { colspan: "6" }, none)));
  }
  $("orders").replaceChildren(...rows);
  const first = (orders.pages.length - 1) * pageSize();
  const shown = answer.orders.length ? `${first + 1}–${first + answer.orders.length} of ` : "";
  const noun = answer.matching === 1 ? "order" : "orders";
  const what = orders.query ? `${noun} matching “${orders.query}”` : noun;
  $("orders-summary").textContent = `${shown}${answer.matching} ${what}`;
  $("orders-next").hidden = !answer.next_after;
  $("orders-next").dataset.after = answer.next_after || "";
  $("orders-previous").hidden = orders.pages.length < 2;
}

async function cancelOrder(orderId, button) {
  if (!window.confirm(`Refund order ${orderId} and put its tickets back on sale?`)) return;
  clearError();
  button.disabled = true;
  try {
    await callApi("POST", eventPath(orders.eventId(), `/orders/${encodeURIComponent(orderId)}/cancel`));
  } catch (error) {
    showError(error.message);
  }
  await loadPage(orders.pages[orders.pages.length - 1]);
}

/** Empties the list: another sale was picked. */
export function clearOrders() {
  orders.generation += 1;
  orders.pages = [null];
  $("orders").replaceChildren();
  $("orders-summary").textContent = "";
  $("orders-next").hidden = true;
  $("orders-previous").hidden = true;
}

/** Wires the search and the page buttons once; ``eventId`` reads the page's selected sale. */
export function wireOrders(eventId) {
  orders.eventId = eventId;
  $("orders-search").addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    loadOrders();
  });
  $("orders-next").addEventListener("click", nextPage);
  $("orders-previous").addEventListener("click", previousPage);
}
