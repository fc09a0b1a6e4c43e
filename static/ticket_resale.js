// The ticket page's "Can't go?" card: the fan who bought this ticket puts it
// back for resale at face value (web/resale.py). Only its buyer sees the
// card: the server says whose it is from the fan's session cookie. Two clicks,
// so a stray tap never gives a ticket away.
import { $, callJson } from "/static/common.js";
import { formatMoney } from "/static/queue_format.js";

function when(iso) {
  return new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

function asking(on) {
  $("put-back").hidden = on;
  $("put-back-confirm").hidden = !on;
  $("put-back-cancel").hidden = !on;
}

function renderListing(listing) {
  const status = $("resale-status");
  $("resale-actions").hidden = true;
  $("resale-offer").hidden = true;
  $("resale-title").textContent = "Resale";
  const price = formatMoney(listing.price_cents, listing.currency);
  if (listing.status === "resold" && listing.refund_ref) {
    status.textContent = `Resold ${when(listing.resold_at)}. ${price} is on its way back to you.`;
  } else if (listing.status === "resold") {
    status.textContent = `Resold ${when(listing.resold_at)}. Your refund of ${price} is being made.`;
  } else {
    status.textContent = `Put back ${when(listing.listed_at)}. When another fan pays for it, you get ${price} back.`;
  }
  status.dataset.status = listing.status;
}

export async function showResale(ticket, reload) {
  const card = $("resale");
  let answer;
  try {
    answer = await callJson(
      "GET",
      `/api/events/${encodeURIComponent(ticket.event_id)}/resale/${encodeURIComponent(ticket.code)}`,
    );
  } catch {
    card.hidden = true; // Not knowing whose it is, offer nothing.
    return;
  }
  if (!answer.yours) {
    card.hidden = true;
    return;
  }
  card.hidden = false;
  if (answer.listing) {
    renderListing(answer.listing);
    return;
  }
  // Used or void tickets cannot go back; the card then says why not.
  const usable = ticket.valid && !ticket.checked_in_at;
  $("resale-actions").hidden = !usable;
  if (!usable) $("resale-status").textContent = "This ticket cannot be put back.";
  $("put-back").onclick = () => asking(true);
  $("put-back-cancel").onclick = () => asking(false);
  $("put-back-confirm").onclick = async () => {
    $("put-back-confirm").disabled = true;
    try {
      await callJson("POST", `/api/events/${encodeURIComponent(ticket.event_id)}/resale`, {
        body: { code: ticket.code },
      });
      await reload();
    } catch (error) {
      $("resale-status").textContent = error.message;
      asking(false);
    } finally {
      $("put-back-confirm").disabled = false;
    }
  };
}
