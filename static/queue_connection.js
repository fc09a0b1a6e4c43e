// The fan page's link to the server: joining the sale (with this browser's
// proof of work, signing in when the sale asks, and waiting by itself while
// the rate limits say "not yet"), and the live socket with its pings and
// reconnects.
import { $, clearError, showError } from "/static/common.js";
import { proofForJoin } from "/static/pow.js";
import { handleSocketMessage, handleStatus } from "/static/queue_messages.js";
import { noteRequeued } from "/static/queue_receipt.js";
import { setConnection, showChecking } from "/static/queue_render.js";
import {
  ADDRESS_BUSY,
  API,
  EVENT_ID,
  addressBusyStatus,
  callApi,
  page,
  statusFromJoin,
} from "/static/queue_state.js";
import { signIn } from "/static/sign_in.js";

const PING_EVERY_MS = 20_000;
// A live server is heard at least every 2 s (the clock's heartbeat). After
// SILENT_PING_MS of silence the page asks (a ping is answered by any web
// process that still runs); after SILENT_GIVE_UP_MS it says the connection
// is lost and opens a new socket, which nginx may give to another process.
const SILENT_PING_MS = 5_000;
const SILENT_GIVE_UP_MS = 9_000;
const RECONNECT_DELAYS_MS = [1_000, 2_000, 5_000, 10_000]; // then 10 s for ever
// Close codes after which reconnecting cannot help (web/sockets.py).
const CLOSE_NO_FAN = 4401;
const CLOSE_UNKNOWN_EVENT = 4404;
const CLOSE_NO_PROOF = 4428; // this fan has not proved its work on this sale yet
// Join answers a fresh solution mends (web/proof_of_work.py).
const PROOF_CODES = new Set(["proof_of_work_required", "invalid_proof_of_work"]);
// Up to this much is added at random to a join's Retry-After, so the pages of
// one campus do not all ask again in the same instant.
const JOIN_RETRY_JITTER_MS = 1_000;

// ---------- joining ----------

// The join answers that signing in (as someone else) can mend.
const SIGN_IN_CODES = new Set(["sign_in_required", "not_on_list"]);

/** Starts this browser's proof of work for its join, if the sale asks for one. */
export function startProof() {
  // Any failure here is the join's to explain: it says what it needs.
  page.proof = proofForJoin(API, showChecking).catch(() => null);
}

// A join refused for now: its address placed its share of new fans, or this
// browser joined too often (a reload loop). Either way: wait, then again.
const JOIN_LATER_CODES = new Set([ADDRESS_BUSY, "too_many_requests"]);

/** Redis restarting, or the sale not put back yet after it (web/unavailable.py). */
function isUnavailable(error) {
  return error.httpStatus === 503 && error.code === "unavailable";
}

/** A join refused for now: by the rate limits, or while the server is restarting. */
function isJoinBusy(error) {
  return (error.httpStatus === 429 && JOIN_LATER_CODES.has(error.code)) || isUnavailable(error);
}

/** ``call`` again after each Retry-After while the server is restarting (503 unavailable). */
export async function whenAvailable(call) {
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      await waitToJoinAgain(error);
    }
  }
}

/**
 * One join, with a solution or none. A join refused for its address keeps its
 * solution for the retry: the server refuses before it checks the proof, so
 * the solution is still unused (or, refused after, it bought the session the
 * answer set, and the retry needs none: joinWithProof).
 */
async function postJoin(solution) {
  try {
    return await callApi("POST", `${API}/join`, solution ? { altcha: solution } : undefined);
  } catch (error) {
    if (solution && isJoinBusy(error)) {
      page.proof = Promise.resolve(solution);
      page.proofKept = true;
    }
    throw error;
  }
}

/**
 * Joins with the solution begun when the page opened (a solution works once,
 * so it is dropped here); when the server asks for a proof, or refuses this
 * one (expired, say), solves a fresh challenge and joins once more. A solution
 * kept from a join refused for its address that the server now refuses was
 * spent on this browser's session: a plain join needs no new one.
 */
async function joinWithProof() {
  const pending = page.proof;
  const kept = page.proofKept;
  page.proof = null;
  page.proofKept = false;
  try {
    const solution = pending ? await pending : null;
    try {
      return await postJoin(solution);
    } catch (error) {
      if (!PROOF_CODES.has(error.code)) throw error;
      if (kept && error.code === "invalid_proof_of_work") {
        try {
          return await postJoin(null);
        } catch (plain) {
          if (plain.code !== "proof_of_work_required") throw plain;
        }
      }
      const fresh = await proofForJoin(API, showChecking);
      return await postJoin(fresh);
    }
  } finally {
    showChecking(false);
  }
}

/**
 * Waits out a call refused for now (its Retry-After, at least a second, plus
 * a little at random), saying so calmly (the place card for its address's
 * share), not as an error.
 */
async function waitToJoinAgain(error) {
  const waitMs =
    Math.max(1, error.retryAfterS || 0) * 1000 + Math.random() * JOIN_RETRY_JITTER_MS;
  if (error.code === ADDRESS_BUSY) {
    handleStatus(addressBusyStatus(waitMs / 1000));
    setConnection("Waiting for a place");
  } else if (isUnavailable(error)) {
    setConnection(`Server restarting: trying again in ${Math.ceil(waitMs / 1000)} s`);
  } else {
    setConnection(`Too many tries: joining again in ${Math.ceil(waitMs / 1000)} s`);
  }
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  setConnection("Joining…");
}

/** Joins, waiting and asking again by itself for as long as the rate limits say "not yet". */
async function joinWhenPlaced() {
  for (;;) {
    try {
      return await joinWithProof();
    } catch (error) {
      if (!isJoinBusy(error)) throw error;
      await waitToJoinAgain(error);
    }
  }
}

/** Joins, signing in first when the sale's policy asks; the join answer. */
export async function joinSale() {
  for (;;) {
    try {
      return await joinWhenPlaced();
    } catch (error) {
      if (!SIGN_IN_CODES.has(error.code)) throw error;
      setConnection("Not signed in");
      $("status").textContent = "Sign in to join";
      await signIn(page.event, error);
      clearError();
    }
  }
}

// ---------- the socket ----------

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws/events/${encodeURIComponent(EVENT_ID)}`;
}

/** The banner that tells a fan the page has lost the server (and that their place is kept). */
function showLost(lost) {
  if ($("connection-lost").hidden !== !lost) $("connection-lost").hidden = !lost;
}

function connectSocket() {
  const socket = new WebSocket(socketUrl());
  page.socket = socket;
  page.heardAt = Date.now();
  page.askedAt = 0;
  socket.addEventListener("open", () => setConnection("Live"));
  socket.addEventListener("message", (event) => {
    page.reconnectAttempt = 0;
    page.heardAt = Date.now();
    page.askedAt = 0;
    showLost(false);
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    handleSocketMessage(message);
  });
  socket.addEventListener("close", (event) => {
    if (!socket.replaced) onSocketClosed(event.code);
  });
}

/** A new socket at once, the old one closed quietly: the fan's place has changed
 * (queued again), and a new socket's first status says the new one. */
export function reopenSocket() {
  const old = page.socket;
  if (old) {
    old.replaced = true;
    old.close();
  }
  connectSocket();
}

/**
 * Joins again at the back of the queue (a turn that ended without buying), or
 * into a resale round's draw while one is open (queue_round.js). A page turned
 * away as sold out had no place to give up: it joins, as a newcomer would.
 */
export async function queueAgain() {
  clearError();
  $("queue-again").disabled = true;
  try {
    const hadPlace = page.status && page.status.number > 0;
    const entry = hadPlace ? await callApi("POST", `${API}/queue-again`) : await joinWhenPlaced();
    if (hadPlace) noteRequeued();
    page.letGo = false;
    // The new place at once, with the sale's figures the page already has.
    const placed = statusFromJoin(entry, page.event);
    const { state, number, ahead, wait_s: waitS, serving } = placed;
    handleStatus({ ...page.status, state, number, ahead, wait_s: waitS, serving, admission: null, hold_id: "" });
    reopenSocket();
  } catch (error) {
    showError(error.message);
  } finally {
    $("queue-again").disabled = false;
  }
}

async function onSocketClosed(code) {
  page.socket = null;
  if (code === CLOSE_UNKNOWN_EVENT) {
    setConnection("Offline");
    return;
  }
  showLost(true);
  if (code === CLOSE_NO_FAN || code === CLOSE_NO_PROOF) {
    // The fan cookie is gone (cleared, or expired), or this fan has not proved
    // its work here (Redis lost the sale): joining again sets it right, and
    // joining is idempotent when the place is still there.
    try {
      const joined = await joinWhenPlaced();
      if (page.status && page.status.state === ADDRESS_BUSY) {
        handleStatus(statusFromJoin(joined, page.event));
      }
    } catch (error) {
      showError(error.message);
    }
  }
  const delays = RECONNECT_DELAYS_MS;
  const delay = delays[Math.min(page.reconnectAttempt, delays.length - 1)];
  page.reconnectAttempt += 1;
  setConnection(`Reconnecting in ${Math.round(delay / 1000)} s…`);
  setTimeout(connectSocket, delay);
}

function pingSocket() {
  if (page.socket && page.socket.readyState === WebSocket.OPEN) {
    page.socket.send('{"t":"ping"}');
  }
}

/** A socket that stays open while the server behind it has stopped answering
 * (a frozen process, a dead link nobody closed) is given up on. */
function checkSilence() {
  const socket = page.socket;
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  const silent = Date.now() - page.heardAt;
  if (silent >= SILENT_GIVE_UP_MS) {
    setConnection("Not answering");
    showLost(true);
    page.socket = null;
    socket.close(); // its close event reconnects, as after any drop
  } else if (silent >= SILENT_PING_MS && !page.askedAt) {
    page.askedAt = Date.now();
    pingSocket();
  }
}

/** Opens the live socket (it reconnects by itself) and keeps it alive with pings. */
export function startSocket() {
  connectSocket();
  setInterval(pingSocket, PING_EVERY_MS);
  setInterval(checkSilence, 1_000);
}
