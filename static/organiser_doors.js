// The organiser dashboard's "Door staff" card: door tokens for the selected
// sale (per door if wanted). A token is shown once, when made: the server
// keeps only its record, and staff type it into /door. Revoking stops it at
// its next scan. Below them, how many tickets each door has let in, counted
// again every CHECK_INS_EVERY_MS while the card is shown.
import { $, clearError, el, showError } from "/static/common.js";
import { callApi, eventPath, organiserToken } from "/static/organiser_api.js";

const CHECK_INS_EVERY_MS = 10_000;
const doors = {
  eventId: () => "",
  shownFor: "", // the sale the card shows
};

/**
 * Shows the card for the selected sale (or hides it when none is selected).
 * A token just made stays on show until another sale is picked: it is shown
 * only once, and a background reload of the page must not take it away.
 */
export function showDoors(eventId) {
  $("doors-card").hidden = !eventId;
  if (eventId !== doors.shownFor) $("door-token-made").hidden = true;
  doors.shownFor = eventId;
  $("check-ins").textContent = "";
  $("check-ins-doors").replaceChildren();
  if (eventId && organiserToken()) {
    loadDoorTokens();
    loadCheckIns();
  }
}

async function loadCheckIns() {
  const eventId = doors.eventId();
  if (!eventId || !organiserToken()) return;
  try {
    const answer = await callApi("GET", eventPath(eventId, "/check-ins"));
    if (eventId === doors.eventId()) renderCheckIns(answer);
  } catch (error) {
    showError(error.message);
  }
}

function renderCheckIns(answer) {
  $("check-ins").textContent = `${answer.checked_in} of ${answer.tickets} paid tickets let in`;
  const lines = answer.doors.map((door) =>
    el("li", { "data-door": door.door }, `${door.door || "an unnamed door"}: ${door.checked_in}`),
  );
  $("check-ins-doors").replaceChildren(...lines);
}

async function loadDoorTokens() {
  const eventId = doors.eventId();
  try {
    const answer = await callApi("GET", eventPath(eventId, "/door-tokens"));
    if (eventId === doors.eventId()) renderDoorTokens(answer.door_tokens);
  } catch (error) {
    showError(error.message);
  }
}

function renderDoorTokens(tokens) {
  const rows = tokens.map((token) => {
    const revoke = el("button", { type: "button", "data-token-id": token.id }, "Revoke");
    revoke.disabled = !!token.revoked_at;
    revoke.addEventListener("click", () => revokeDoorToken(token.id, revoke));
    return el(
      "tr",
      {},
      el("td", {}, token.door || "any door (staff name it)"),
      el("td", {}, new Date(token.created_at).toLocaleString()),
      el("td", {}, token.revoked_at ? `revoked ${new Date(token.revoked_at).toLocaleString()}` : "works"),
      el("td", {}, revoke),
    );
  });
  $("door-tokens").replaceChildren(...rows);
}

async function makeDoorToken(submitted) {
  submitted.preventDefault();
  clearError();
  const door = $("door-name").value.trim();
  try {
    const made = await callApi("POST", eventPath(doors.eventId(), "/door-tokens"), door ? { door } : {});
    $("door-token-value").textContent = made.token;
    $("door-token-made").hidden = false;
  } catch (error) {
    return showError(error.message);
  }
  loadDoorTokens();
}

async function revokeDoorToken(tokenId, button) {
  if (!window.confirm("Revoke this door token? Staff using it can no longer check anyone in.")) return;
  clearError();
  button.disabled = true;
  try {
    await callApi("POST", eventPath(doors.eventId(), `/door-tokens/${encodeURIComponent(tokenId)}/revoke`));
  } catch (error) {
    button.disabled = false;
    return showError(error.message);
  }
  loadDoorTokens();
}

/** Wires the card once; ``eventId`` reads the page's selected sale. */
export function wireDoors(eventId) {
  doors.eventId = eventId;
  $("door-form").addEventListener("submit", makeDoorToken);
  $("check-ins-refresh").addEventListener("click", loadCheckIns);
  setInterval(() => {
    if (!document.hidden && !$("doors-card").hidden) loadCheckIns();
  }, CHECK_INS_EVERY_MS);
}
