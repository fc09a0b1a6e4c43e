// The organiser dashboard's calls to the API: every call carries the token
// typed in the page as a bearer token. Also the page's absolute links.
import { $, callJson } from "/static/common.js";

export function organiserToken() {
  return $("token").value.trim();
}

export function callApi(method, path, body) {
  return callJson(method, path, { body, headers: { Authorization: `Bearer ${organiserToken()}` } });
}

export const isAuthError = (error) => error.httpStatus === 401 || error.httpStatus === 403;

export function absoluteUrl(path) {
  return new URL(path, location.origin).href;
}
