// The organiser dashboard's "Steer the sale" card: the admission rate, the cap
// on fans shopping at once, the hold time and the pause message of a running
// sale, and more tickets for a type. The clock's next step admits by the new
// figures; every change is logged with the name given here and shown below.
import { $, clearError, el, showError } from "/static/common.js";
import { callApi, eventPath, isoWithOffset, toLocalInputValue } from "/static/organiser_api.js";

const NAME_KEY = "fairdrop.organiserName";
const FIELDS = ["rate_per_min", "cap", "hold_seconds", "pause_message"];
const FIELD_WORDS = {
  rate_per_min: "fans let in a minute",
  cap: "most fans shopping at once",
  hold_seconds: "hold time (s)",
  pause_message: "pause message",
  name: "name",
  opens_at: "opening",
  drop_at: "drop",
  beacon: "the draw's beacon round",
};

const steer = {
  eventId: () => "",
  event: null,
};

/** Shows the card for the selected sale; ``event`` is its view (null: none selected). */
export function showSteering(event) {
  const another = (event && event.id) !== (steer.event && steer.event.id);
  steer.event = event;
  $("steer-card").hidden = !event;
  if (!event) return;
  // Not while the organiser types: the page reloads its sales in the background.
  if (another) resetForm(event);
  if (another) loadChanges();
}

/** True until the waiting room opens: the name and times may change, the sale may go. */
const beforeWindow = (event) => Date.parse(event.opens_at) > Date.now();

function resetForm(event) {
  $("steer-name").value = event.name;
  $("steer-opens").value = toLocalInputValue(new Date(event.opens_at));
  $("steer-drop").value = toLocalInputValue(new Date(event.drop_at));
  $("steer-schedule").hidden = !beforeWindow(event);
  $("steer-delete").hidden = !beforeWindow(event);
  $("steer-rate").value = event.rate_per_min;
  $("steer-cap").value = event.cap;
  $("steer-hold").value = event.hold_seconds;
  $("steer-pause-message").value = event.pause_message || "";
  $("steer-done").hidden = true;
  const rows = event.ticket_types.map((type) =>
    el(
      "label",
      { for: `steer-add-${type.id}` },
      `Add to ${type.name} (now ${type.stock})`,
      el("input", {
        id: `steer-add-${type.id}`,
        "data-type": type.id,
        type: "number",
        min: "1",
        step: "1",
        inputmode: "numeric",
        placeholder: "0",
      }),
    ),
  );
  $("steer-stock").replaceChildren(...rows);
}

/** The body of the change: the fields that differ from the sale's, and any stock to add. */
function edits() {
  const event = steer.event;
  const asked = {
    rate_per_min: Number($("steer-rate").value),
    cap: Number($("steer-cap").value),
    hold_seconds: Number($("steer-hold").value),
    pause_message: $("steer-pause-message").value.trim(),
  };
  const body = {};
  for (const name of FIELDS) {
    if (asked[name] !== (event[name] ?? "")) body[name] = asked[name];
  }
  const added = {};
  for (const input of $("steer-stock").querySelectorAll("input[data-type]")) {
    if (input.value.trim()) added[input.dataset.type] = Number(input.value);
  }
  if (Object.keys(added).length) body.add_stock = added;
  if (beforeWindow(event)) {
    const name = $("steer-name").value.trim();
    if (name !== event.name) body.name = name;
    for (const [field, input] of [["opens_at", "steer-opens"], ["drop_at", "steer-drop"]]) {
      const chosen = new Date($(input).value);
      if (!Number.isNaN(chosen.getTime()) && Math.abs(chosen - Date.parse(event[field])) >= 1000) {
        body[field] = isoWithOffset(chosen);
      }
    }
  }
  return body;
}

async function apply(submitted) {
  submitted.preventDefault();
  clearError();
  const body = edits();
  if (!Object.keys(body).length) return showError("Nothing to change: every figure is the sale's already.");
  const name = $("steer-by").value.trim();
  sessionStorage.setItem(NAME_KEY, name);
  if (name) body.by = name;
  $("steer-apply").disabled = true;
  try {
    const answer = await callApi("PATCH", eventPath(steer.eventId(), ""), body);
    steer.event = answer.event;
    resetForm(answer.event);
    $("steer-done").textContent = answer.changes.length
      ? `Changed ${answer.changes.map(changeWords).join("; ")}. The clock uses it from its next step.`
      : "Nothing changed.";
    $("steer-done").hidden = false;
    await loadChanges();
  } catch (error) {
    showError(error.message);
  } finally {
    $("steer-apply").disabled = false;
  }
}

async function deleteSale() {
  const event = steer.event;
  if (!window.confirm(`Delete “${event.name}”? Its fan link stops working. This cannot be undone.`)) return;
  clearError();
  try {
    await callApi("DELETE", eventPath(event.id, ""));
  } catch (error) {
    return showError(error.message);
  }
  location.hash = "";
  window.dispatchEvent(new CustomEvent("fairdrop:sale-deleted", { detail: event.id }));
}

function fieldWords(field) {
  if (field.startsWith("stock:")) return `stock of ${field.slice("stock:".length)}`;
  return FIELD_WORDS[field] || field;
}

function changeWords(change) {
  if (change.field === "beacon") return "the draw's beacon round (it moves with the drop)";
  const quote = (value) => (["pause_message", "name"].includes(change.field) ? `“${value}”` : value);
  return `${fieldWords(change.field)} from ${quote(change.old)} to ${quote(change.new)}`;
}

async function loadChanges() {
  const eventId = steer.eventId();
  try {
    const answer = await callApi("GET", eventPath(eventId, "/changes"));
    if (eventId !== steer.eventId()) return;
    const rows = answer.changes
      .slice()
      .reverse()
      .map((change) =>
        el(
          "tr",
          {},
          el("td", {}, new Date(change.at).toLocaleString()),
          el("td", { class: "text wrap" }, change.by || `someone at ${change.address}`),
          el("td", { class: "text wrap" }, changeWords(change)),
        ),
      );
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: "3" }, "No changes yet.")));
    $("steer-log").replaceChildren(...rows);
  } catch (error) {
    showError(error.message);
  }
}

/** Wires the form once; ``eventId`` reads the page's selected sale. */
export function wireSteering(eventId) {
  steer.eventId = eventId;
  $("steer-by").value = sessionStorage.getItem(NAME_KEY) || "";
  $("steer-form").addEventListener("submit", apply);
  $("steer-delete").addEventListener("click", deleteSale);
}
