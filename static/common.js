// What the fan page and the organiser dashboard share: building elements,
// the #error banner, and JSON calls that turn the API's error body into an
// exception carrying its message, code and Retry-After.

/** Builds an element; children may be strings or nodes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

export const $ = (id) => document.getElementById(id);

/** Shows a message in the page's #error banner (role="alert"); "" hides it. */
export function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

export function clearError() {
  showError("");
}

export class ApiError extends Error {
  constructor(message, code, httpStatus, retryAfterS = null) {
    super(message);
    this.code = code; // the API's error code, "network" or "http_error"
    this.httpStatus = httpStatus; // 0 when the server was not reached
    // Seconds until asking again can work (the answer's Retry-After), or null.
    this.retryAfterS = retryAfterS;
  }
}

/** A Retry-After header in seconds (a number of seconds or an HTTP date); null if none. */
export function retryAfterSeconds(header, nowMs = Date.now()) {
  if (!header) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return parseInt(text, 10);
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/**
 * Calls the API and resolves with the JSON body. Any non-2xx answer rejects
 * with an ApiError holding the body's {"error": {"code", "message"}}.
 * onResponse sees every response that arrives (the fan page reads its Date).
 */
export async function callJson(method, path, { body, headers = {}, onResponse } = {}) {
  const options = { method, credentials: "same-origin", headers: { ...headers } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError("Cannot reach the server. Check your connection and try again.", "network", 0);
  }
  if (onResponse) onResponse(response);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    throw new ApiError(
      error.message || `The server answered ${response.status}.`,
      error.code || "http_error",
      response.status,
      retryAfterSeconds(response.headers.get("Retry-After")),
    );
  }
  return data;
}
