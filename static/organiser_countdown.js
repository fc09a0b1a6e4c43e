// The dashboard's countdown to the window opening and to the drop, ticking
// each second in the page from the times the live socket sent (the server's
// clock, corrected by the page's offset from it): no call per tick.
import { $ } from "/static/common.js";

const TICK_MS = 1_000;
const countdown = { opensMs: 0, dropMs: 0, offsetMs: 0, timer: 0 };

/** A length of time in words that change every second: "1 h 02 min 05 s". */
export function spanWords(ms) {
  const total = Math.max(0, Math.round(ms / 1_000));
  const hours = Math.floor(total / 3_600);
  const minutes = Math.floor((total % 3_600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  if (hours > 0) return `${hours} h ${String(minutes).padStart(2, "0")} min ${seconds} s`;
  if (minutes > 0) return `${minutes} min ${seconds} s`;
  return `${total % 60} s`;
}

/** Starts (or moves) the countdown; serverNowMs is the server's clock when it was sent. */
export function setSchedule(opensMs, dropMs, serverNowMs) {
  countdown.opensMs = opensMs || 0;
  countdown.dropMs = dropMs || 0;
  countdown.offsetMs = serverNowMs ? serverNowMs - Date.now() : 0;
  $("countdown").hidden = !countdown.dropMs;
  render();
  if (!countdown.timer) countdown.timer = setInterval(render, TICK_MS);
}

export function clearCountdown() {
  clearInterval(countdown.timer);
  countdown.timer = 0;
  countdown.dropMs = 0;
  $("countdown").hidden = true;
}

function render() {
  if (!countdown.dropMs) return;
  const now = Date.now() + countdown.offsetMs;
  const at = (ms) => new Date(ms).toLocaleTimeString();
  $("countdown-window").textContent =
    countdown.opensMs > now ? `opens in ${spanWords(countdown.opensMs - now)}` : `opened at ${at(countdown.opensMs)}`;
  $("countdown-drop").textContent =
    countdown.dropMs > now ? `in ${spanWords(countdown.dropMs - now)}` : `was at ${at(countdown.dropMs)}`;
}
