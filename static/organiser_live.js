// The organiser's live socket (/ws/organiser/<event id>, web/organiser_live.py):
// the sale's figures and their history, pushed once a second; the page asks
// nothing over HTTP for them.
//
// A browser cannot put an Authorization header on a websocket, and a token
// in the address would end up in logs: the token goes as the first message.
// A refusal of the token or of the sale (4401, 4403, 4404) stops the socket
// until the token or the sale changes; any other close is retried, and the
// history the server sends again replaces what the page had.

const RETRY_MS = [1_000, 2_000, 5_000, 10_000];
const PING_EVERY_MS = 25_000; // keeps proxies from closing a quiet socket
const REFUSALS = new Set([4401, 4403, 4404]);

let watching = null; // { eventId, ws, tries, retryTimer, pingTimer, stopped }

/**
 * Follows one sale: handlers.history(message) on every (re)connect,
 * handlers.sample(message) each second, handlers.stopped(error) when the
 * server refused the token or the sale, handlers.lost() while reconnecting.
 */
export function watchSale(eventId, token, handlers) {
  // Already following this sale with this token (the token typed, then the sale picked).
  const same = watching && watching.eventId === eventId && watching.token === token && !watching.refused;
  if (same) {
    watching.handlers = handlers;
    return;
  }
  stopWatching();
  if (!eventId || !token) return;
  const watch = { eventId, token, handlers, ws: null, tries: 0, retryTimer: 0, pingTimer: 0, stopped: false, refused: false };
  watching = watch;
  connect(watch);
}

export function stopWatching() {
  if (!watching) return;
  const watch = watching;
  watching = null;
  watch.stopped = true;
  clearTimeout(watch.retryTimer);
  clearInterval(watch.pingTimer);
  if (watch.ws) watch.ws.close(1000);
}

function connect(watch) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/ws/organiser/${encodeURIComponent(watch.eventId)}`);
  watch.ws = ws;
  let refusal = null;
  ws.addEventListener("open", () => {
    ws.send(JSON.stringify({ t: "auth", token: watch.token }));
    watch.pingTimer = setInterval(() => ws.send(JSON.stringify({ t: "ping" })), PING_EVERY_MS);
  });
  ws.addEventListener("message", (event) => {
    if (watch.stopped) return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.t === "history") {
      watch.tries = 0;
      watch.handlers.history(message);
    } else if (message.t === "sample") {
      watch.handlers.sample(message);
    } else if (message.t === "error") {
      refusal = message;
    }
  });
  ws.addEventListener("close", (event) => {
    clearInterval(watch.pingTimer);
    if (watch.stopped) return;
    if (REFUSALS.has(event.code)) {
      watch.refused = true;
      watch.handlers.stopped(refusal || { message: `the server closed the socket (${event.code})` });
      return;
    }
    watch.handlers.lost();
    const wait = RETRY_MS[Math.min(watch.tries, RETRY_MS.length - 1)];
    watch.tries += 1;
    watch.retryTimer = setTimeout(() => connect(watch), wait);
  });
}
