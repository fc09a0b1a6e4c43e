// The organiser dashboard's calls to the API: every call carries the token
// typed in the page as a bearer token. Also the page's absolute links and the
// times its forms show and send.
import { $, callJson } from "/static/common.js";

export function organiserToken() {
  return $("token").value.trim();
}

/** The header that carries the organiser token (for calls made with fetch too). */
export function bearer() {
  return { Authorization: `Bearer ${organiserToken()}` };
}

export function callApi(method, path, body) {
  return callJson(method, path, { body, headers: bearer() });
}

/** The API path of one sale, then ``tail``: eventPath(id, "/orders"). */
export function eventPath(eventId, tail = "") {
  return `/api/events/${encodeURIComponent(eventId)}${tail}`;
}

export const isAuthError = (error) => error.httpStatus === 401 || error.httpStatus === 403;

export function absoluteUrl(path) {
  return new URL(path, location.origin).href;
}

// ---------- times ----------

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** The value a datetime-local input wants: local time, to the second. */
export function toLocalInputValue(date) {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** ISO 8601 with this browser's UTC offset, as the API requires an offset. */
export function isoWithOffset(date) {
  const offsetMinutes = -date.getTimezoneOffset();
  const sign = offsetMinutes >= 0 ? "+" : "-";
  const abs = Math.abs(offsetMinutes);
  return `${toLocalInputValue(date)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
