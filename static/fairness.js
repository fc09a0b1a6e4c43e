// The fairness report page (/e/<event id>/fairness): the report's JSON
// (GET /api/events/<id>/fairness) in words, a chart and tables. Before the
// draw the API answers 409 draw_not_done: the page says so and looks again.
import { $, callJson, el, showError } from "/static/common.js";
import { drawArrivalChart, secondsLabel } from "/static/fairness_chart.js";

const eventId = decodeURIComponent(location.pathname.split("/")[2] || "");
const API = `/api/events/${encodeURIComponent(eventId)}`;
const RETRY_MS = 5_000;
// Draws the chart again at the page's width (set once a report is shown).
let redrawChart = () => {};

// A p-value below this is what a fair draw shows about 1 time in 100.
const UNUSUAL_P = 0.01;

const ROUTE_NAMES = {
  anon: "A browser, without signing in",
  email: "Signed in with an email address",
  oidc: "Signed in with an account (OpenID Connect)",
  member: "An id on the organiser's list",
};

const PROMISES = {
  unsteerable:
    "Nobody could steer this draw: the order mixes a seed committed to before the window " +
    "opened with public randomness that did not exist until the entrant list was frozen.",
  "committed-seed":
    "No public randomness could be had in time, so this draw rests on the seed alone: " +
    "committed to before the window opened, so nobody could change it afterwards, but " +
    "whoever ran the server knew it.",
};

function number(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString();
}

function pValue(p) {
  if (p === null || p === undefined) return "—";
  return p < 0.001 ? "p < 0.001" : `p = ${p.toPrecision(2)}`;
}

function duration(seconds) {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** The report's lower-case phrase as the start of a sentence. */
function sentence(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "medium" }) : "—";
}

/** The verdict in words: can arrival time be seen in the numbers? */
function verdict(arrivals) {
  const { spearman, ks, recorded } = arrivals;
  if (recorded < 2 || spearman.coefficient === null || !ks) {
    return ["banner banner-info", "Too few entrants with an arrival time to test the draw."];
  }
  const smallest = Math.min(spearman.p_value, ks.p_value);
  if (smallest >= UNUSUAL_P) {
    return [
      "banner banner-good",
      "Consistent with a fair draw: when a fan arrived in the window made no visible " +
        "difference to their place in the queue.",
    ];
  }
  const odds = Math.max(2, Math.round(1 / Math.max(smallest, 1e-9)));
  return [
    "banner banner-warn",
    `Unusual for a fair draw: a fair draw shows a link this strong between arrival time ` +
      `and place only about 1 time in ${number(odds)}. Check the draw with the published data.`,
  ];
}

function renderArrivals(report) {
  const { arrivals, entrants } = report;
  const [kind, words] = verdict(arrivals);
  $("verdict").className = kind;
  $("verdict").textContent = words;
  const rho = arrivals.spearman.coefficient;
  const rhoP = pValue(arrivals.spearman.p_value);
  $("spearman").textContent = rho === null ? "—" : `${rho.toFixed(3)} (${rhoP})`;
  const ks = arrivals.ks;
  $("ks").textContent = ks ? `D = ${ks.statistic.toFixed(3)} (${pValue(ks.p_value)})` : "—";
  $("stats-note").textContent =
    rho === null
      ? ""
      : `0 means no link between arrival time and queue number; a fair draw of ` +
        `${number(arrivals.recorded)} entrants stays within ` +
        `±${arrivals.spearman.fair_band.toFixed(3)} 19 times in 20. The KS test compares ` +
        `the numbers of the earlier ${number(ks.early)} arrivals with the later ` +
        `${number(ks.late)} (${ks.method}); a p-value is small only ` +
        `when the two halves differ more than chance would make them.`;
  if (arrivals.recorded < entrants.drawn) {
    // Arrival times live in Redis only: a sale restored after Redis lost them has fewer.
    $("stats-note").textContent +=
      ` Arrival times were kept for ${number(arrivals.recorded)} of the ` +
      `${number(entrants.drawn)} drawn entrants; the tests use those.`;
  }
  const opensAt = Date.parse(report.window.opens_at);
  const last = Math.max(1, entrants.drawn, ...arrivals.deciles.map((b) => b.high));
  redrawChart = () => drawArrivalChart($("arrival-chart"), arrivals.deciles, last, opensAt);
  redrawChart();
  $("chart-desc").textContent =
    `Queue numbers of ${number(arrivals.recorded)} entrants in ${arrivals.deciles.length} groups ` +
    `by arrival time; middle numbers: ${arrivals.deciles.map((b) => b.median).join(", ")} ` +
    `of 1 to ${number(last)}.`;
  $("deciles").replaceChildren(
    ...arrivals.deciles.map((box) =>
      el(
        "tr",
        {},
        el("td", {}, `${secondsLabel((box.arrived_from_ms - opensAt) / 1000)} – ` +
          `${secondsLabel((box.arrived_to_ms - opensAt) / 1000)}`),
        el("td", {}, number(box.count)),
        el("td", {}, number(box.low)),
        el("td", {}, `${number(box.q1)} – ${number(box.q3)}`),
        el("td", {}, number(box.median)),
        el("td", {}, number(box.high)),
      ),
    ),
  );
}

function renderDraw(draw) {
  $("promise").textContent =
    PROMISES[draw.promise] || "This draw rests on a seed committed to before the window opened.";
  $("seed-hash").textContent = draw.seed_hash || "—";
  const beacon = draw.beacon;
  if (!beacon) {
    $("beacon").textContent = "none (this draw mixes in no beacon)";
  } else {
    $("beacon").replaceChildren(
      `round ${number(beacon.round)} · ${beacon.status || "pending"}`,
      ...(beacon.randomness ? [" · value ", el("code", { class: "mono" }, beacon.randomness)] : []),
    );
  }
  $("digest").textContent = draw.entrants_digest || "—";
  const check = $("digest-check");
  if (draw.list_matches_digest === true) {
    check.textContent = "✓ the published list hashes to this digest";
    check.className = "small check-good";
  } else if (draw.list_matches_digest === false) {
    check.textContent = "✗ the published list does NOT hash to this digest";
    check.className = "small check-bad";
  }
  $("seed").textContent = draw.seed || "—";
  $("draw-doc").href = draw.draw_url;
  $("entrants-list").href = draw.entrants_url;
  const drawUrl = new URL(draw.draw_url, location.origin).href;
  $("verify-command").textContent = `fairdrop verify-draw ${drawUrl}`;
}

function renderTables(report) {
  $("routes").replaceChildren(
    ...Object.entries(report.entrants.by_route).map(([route, counts]) =>
      el("tr", { "data-route": route }, el("td", {}, ROUTE_NAMES[route] || route),
        el("td", {}, number(counts.drawn)), el("td", {}, number(counts.late))),
    ),
    el("tr", { class: "total-row" }, el("th", { scope: "row" }, "Everyone"),
      el("td", {}, number(report.entrants.drawn)), el("td", {}, number(report.entrants.late))),
  );
  $("refusals").replaceChildren(
    ...report.refusals.map((r) =>
      el("tr", { "data-reason": r.reason }, el("td", {}, sentence(r.meaning)),
        el("td", {}, number(r.count))),
    ),
  );
}

function renderSale(report) {
  const sale = report.sale;
  $("drawn").textContent = number(report.entrants.drawn);
  $("admitted").textContent = number(sale.admitted);
  $("sold").textContent = `${number(sale.sold)} of ${number(sale.stock)}`;
  $("fans-with-tickets").textContent = number(sale.fans_with_tickets);
  $("sell-out").textContent =
    sale.seconds_to_sell_out === null
      ? "not sold out"
      : `${duration(sale.seconds_to_sell_out)} after the drop`;
}

function render(report) {
  document.title = `${report.name} · Fairness report · fairdrop`;
  $("event-name").textContent = `${report.name}: how fair was the draw?`;
  const { opens_at: opensAt, drop_at: dropAt } = report.window;
  $("event-when").textContent = `Window ${when(opensAt)} to ${when(dropAt)}`;
  renderArrivals(report);
  renderSale(report);
  renderDraw(report.draw);
  renderTables(report);
  $("generated-at").textContent = when(report.generated_at);
  $("not-drawn").hidden = true;
  $("report").hidden = false;
}

async function load() {
  $("raw-report").href = `${API}/fairness`;
  $("fan-page-link").href = `/e/${encodeURIComponent(eventId)}`;
  try {
    render(await callJson("GET", `${API}/fairness`));
  } catch (error) {
    if (error.code === "draw_not_done") {
      $("event-name").textContent = "Fairness report";
      $("not-drawn").textContent =
        "The draw has not happened yet. This report appears once the window has closed " +
        "and the queue is drawn; this page looks again by itself.";
      $("not-drawn").hidden = false;
      setTimeout(load, RETRY_MS);
      return;
    }
    $("event-name").textContent = "Fairness report";
    showError(error.code === "unknown_event" ? "There is no sale here." : error.message);
  }
}

load();
window.addEventListener("resize", () => redrawChart());
