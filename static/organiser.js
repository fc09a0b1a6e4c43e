// The organiser dashboard (/organiser, /organiser#<event id>).
//
// Create a sale, pick one to watch, see its figures and charts live, pause and
// resume it, find its orders and cancel (refund) one. Every call carries the organiser token as a bearer token; the
// token lives in sessionStorage so it is gone when the tab closes.
//
// This entry module keeps the token and wires the page; the rest lives in:
//   organiser_api.js     the calls to the API with the token
//   organiser_create.js  the "Create a sale" form
//   organiser_sales.js   the list of sales, the one watched
//   organiser_live.js    the watched sale's live socket
//   organiser_charts.js  its charts (uPlot) and time to sell out
//   organiser_countdown.js  the countdown to the window and the drop
//   organiser_orders.js  its orders: search, pages, tickets, cancel
//   organiser_access.js  the "Who may enter" card
//   organiser_doors.js   the "Door staff" card
//   organiser_steer.js   the "Steer the sale" card and its change log
import { $ } from "/static/common.js";
import { organiserToken } from "/static/organiser_api.js";
import { wireAccess } from "/static/organiser_access.js";
import "/static/organiser_discounts.js"; // the "Discount codes" card, self-wired
import { wireCreate } from "/static/organiser_create.js";
import { wireDoors } from "/static/organiser_doors.js";
import { wireOrders } from "/static/organiser_orders.js";
import { wireSteering } from "/static/organiser_steer.js";
import {
  reloadEvents,
  restartLive,
  selectFromHash,
  selectedId,
  setPaused,
} from "/static/organiser_sales.js";

const TOKEN_KEY = "fairdrop.organiserToken";
const EVENTS_RELOAD_DELAY_MS = 400;
const EVENTS_REFRESH_MS = 10_000;
let eventsReloadTimer = 0;

function restoreToken() {
  $("token").value = sessionStorage.getItem(TOKEN_KEY) || "";
}

function onTokenInput() {
  sessionStorage.setItem(TOKEN_KEY, organiserToken());
  // Wait for the typing to stop before asking for the list with the new token.
  clearTimeout(eventsReloadTimer);
  eventsReloadTimer = setTimeout(() => {
    reloadEvents();
    restartLive();
  }, EVENTS_RELOAD_DELAY_MS);
}

function start() {
  restoreToken();
  $("token").addEventListener("input", onTokenInput);
  // Enter in the token field would reload the page: it only saves.
  $("token-form").addEventListener("submit", (submitEvent) => submitEvent.preventDefault());
  wireCreate();
  $("refresh-events-button").addEventListener("click", reloadEvents);
  $("pause-button").addEventListener("click", () => setPaused(true));
  $("resume-button").addEventListener("click", () => setPaused(false));
  wireOrders(selectedId);
  wireSteering(selectedId);
  wireAccess(selectedId);
  wireDoors(selectedId);
  window.addEventListener("hashchange", selectFromHash);
  window.addEventListener("fairdrop:sale-deleted", reloadEvents);
  selectFromHash();
  reloadEvents();
  // The list's states move on by themselves (a sale opens, sells out): read it again.
  setInterval(() => {
    if (!document.hidden && organiserToken()) reloadEvents();
  }, EVENTS_REFRESH_MS);
}

start();
