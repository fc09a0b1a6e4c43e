// The organiser dashboard's "Who may enter" card: the sale's access policy
// (changeable until the window opens), importing its list from a CSV file,
// and the downloads (the list with personal links, the orders and tickets).
import { $, clearError, el, showError } from "/static/common.js";
import { bearer, callApi, eventPath, toLocalInputValue } from "/static/organiser_api.js";

// A new presale link works for a week unless the organiser says otherwise.
const PRESALE_DEFAULT_MS = 7 * 24 * 3600 * 1000;

const POLICY_WORDS = {
  open: "Anyone with the link (an open sale cannot tell people apart)",
  email: "Fans who prove an email address",
  login: "Fans who sign in with their account (OpenID Connect)",
  list: "Only the people on your list",
};

const access = {
  eventId: () => "",
  event: null,
};

/** The message of an API refusal (its JSON error body), whatever the body holds. */
async function refusal(response) {
  const data = await response.json().catch(() => ({}));
  return (data.error && data.error.message) || `The server answered ${response.status}.`;
}

/** Shows the selected sale's policy; ``event`` is its public view. */
export function showAccess(event) {
  const another = (event && event.id) !== (access.event && access.event.id);
  access.event = event;
  $("access-card").hidden = !event;
  if (!event) return;
  $("access-now").textContent = POLICY_WORDS[event.access] || event.access;
  const open = Date.parse(event.opens_at) <= Date.now();
  $("access-change").disabled = open;
  $("access-select").disabled = open;
  $("access-fixed").hidden = !open;
  $("list-tools").hidden = event.access !== "list";
  // The forms start afresh for another sale only: the page reloads its sales
  // in the background, and that must not undo what the organiser is typing.
  if (another) resetForms(event);
  loadLinks();
}

function resetForms(event) {
  $("access-select").value = event.access;
  $("import-result").hidden = true;
  const types = $("presale-type");
  types.replaceChildren(el("option", { value: "" }, "Any type"));
  for (const type of event.ticket_types) {
    types.append(el("option", { value: type.id.slice(event.id.length + 1) }, type.name));
  }
  $("presale-expires").value = toLocalInputValue(new Date(Date.now() + PRESALE_DEFAULT_MS));
}

async function loadLinks() {
  const eventId = access.eventId();
  try {
    const answer = await callApi("GET", eventPath(eventId, "/presale-links"));
    if (eventId === access.eventId()) renderLinks(answer.links);
  } catch (error) {
    showError(error.message);
  }
}

function renderLinks(links) {
  const rows = links.map((link) =>
    el(
      "tr",
      {},
      el("td", {}, link.label),
      el("td", {}, link.ticket_type || "any"),
      el("td", {}, String(link.used ?? "—")),
      el("td", {}, String(link.left ?? "—")),
      el("td", {}, new Date(link.expires_at).toLocaleString()),
      el("td", {}, el("a", { href: link.link, "data-link-id": link.id }, "fan link")),
    ),
  );
  $("presale-links").replaceChildren(...rows);
}

async function createLink(submitted) {
  submitted.preventDefault();
  clearError();
  const expires = new Date($("presale-expires").value);
  if (Number.isNaN(expires.getTime())) return showError("Say until when the link works.");
  const body = {
    label: $("presale-label").value.trim() || "presale",
    allowance: parseInt($("presale-allowance").value, 10),
    expires_at: expires.toISOString(),
  };
  if ($("presale-type").value) body.ticket_type = $("presale-type").value;
  try {
    await callApi("POST", eventPath(access.eventId(), "/presale-links"), body);
  } catch (error) {
    return showError(error.message);
  }
  loadLinks();
}

async function changeAccess() {
  clearError();
  try {
    const event = await callApi("POST", eventPath(access.eventId(), "/access"), {
      access: $("access-select").value,
    });
    showAccess(event);
  } catch (error) {
    showError(error.message);
  }
}

async function importList() {
  clearError();
  $("import-result").hidden = true;
  const file = $("list-file").files[0];
  if (!file) return showError("Choose a CSV file first (columns: email or id, and allowance).");
  const mode = $("list-add").checked ? "add" : "replace";
  let response;
  try {
    response = await fetch(eventPath(access.eventId(), `/access-list?mode=${mode}`), {
      method: "POST",
      headers: { ...bearer(), "Content-Type": "text/csv" },
      body: file,
    });
  } catch {
    return showError("Cannot reach the server. Check your connection and try again.");
  }
  if (!response.ok) return showError(await refusal(response));
  const data = await response.json();
  const result = $("import-result");
  result.textContent =
    `${data.total} on the list (${data.emails} by email, ${data.ids} by id): ` +
    `${data.added} added, ${data.updated} updated, ${data.removed} removed.`;
  result.hidden = false;
}

/** Fetches a file the API serves to organisers and hands it to the browser as a download. */
async function download(tail, filename) {
  clearError();
  let response;
  try {
    response = await fetch(eventPath(access.eventId(), tail), { headers: bearer() });
  } catch {
    return showError("Cannot reach the server. Check your connection and try again.");
  }
  if (!response.ok) return showError(await refusal(response));
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Wires the card once; ``eventId`` reads the page's selected sale. */
export function wireAccess(eventId) {
  access.eventId = eventId;
  $("access-change").addEventListener("click", changeAccess);
  $("list-import").addEventListener("click", importList);
  $("presale-form").addEventListener("submit", createLink);
  $("list-download").addEventListener("click", () =>
    download("/access-list.csv", `${eventId()}-list.csv`),
  );
  $("orders-download").addEventListener("click", () =>
    download("/export.csv", `${eventId()}-orders.csv`),
  );
}
