// A fan's ticket (/tickets/<code>): event, type, order, the code as text and
// as a QR code, and whether it has been checked in at a door. A page left open
// at the door reads the ticket again every RECHECK_MS until it is used, so it
// says "Used" without a reload once the door has scanned it.
import { $, callJson, el, showError } from "/static/common.js";
import { showResale } from "/static/ticket_resale.js";

const code = decodeURIComponent(location.pathname.split("/").pop() || "");
const path = `/api/tickets/${encodeURIComponent(code)}`;
const RECHECK_MS = 5_000;
let usedOrVoid = false;

function when(iso) {
  return new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

function renderCheckIn(ticket) {
  const line = $("check-in");
  if (ticket.voided) {
    line.className = "banner banner-error";
    line.textContent = "Not valid: resold to another fan, who has a new code.";
  } else if (!ticket.valid) {
    line.className = "banner banner-error";
    line.textContent = `Not valid: this order is ${ticket.order_status}.`;
  } else if (ticket.listed) {
    line.className = "banner banner-info";
    line.textContent = "Put back for resale: not valid at the door.";
  } else if (ticket.checked_in_at) {
    line.className = "banner banner-info";
    line.replaceChildren(
      el("strong", {}, "Used"),
      " · checked in ",
      el("time", { datetime: ticket.checked_in_at }, when(ticket.checked_in_at)),
      ` (door: ${ticket.checked_in_by})`,
    );
  } else {
    line.className = "banner banner-good";
    line.textContent = "Valid · not checked in yet";
  }
  line.dataset.checkedIn = ticket.checked_in_at ? "yes" : "no";
  // A listed ticket is read again too: the page says when it was resold.
  usedOrVoid = !ticket.valid || Boolean(ticket.checked_in_at);
}

async function load() {
  try {
    const ticket = await callJson("GET", path);
    document.title = `${ticket.event_name} · Ticket · fairdrop`;
    $("event-name").textContent = ticket.event_name;
    $("ticket-type").textContent = ticket.ticket_type;
    $("code").textContent = ticket.code;
    $("order-id").textContent = ticket.order_id;
    $("qr").src = `${path}/qr.svg`;
    $("qr").alt = `QR code of ticket ${ticket.code}`;
    renderCheckIn(ticket);
    $("ticket").hidden = false;
    await showResale(ticket, load);
  } catch (error) {
    showError(error.code === "unknown_ticket" ? "There is no ticket with this code." : error.message);
  }
}

load();
// Back from the door: show the check-in without a reload.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && !$("ticket").hidden) load();
});
setInterval(() => {
  if (document.visibilityState === "visible" && !$("ticket").hidden && !usedOrVoid) load();
}, RECHECK_MS);
