// Who may enter a sale, and signing in when it asks (the fan page's #access
// and #sign-in cards).
//
// The sale's access policy comes with the event (GET /api/events/{id}):
// open (anyone; the page says plainly that an open sale cannot tell people
// apart), email (a magic link or its six-digit code), login ("Sign in with
// ..." through OpenID Connect) or list (only the organiser's list: by email,
// or by the personal link the organiser sent). The server decides: the page
// asks to join, and only when the answer is sign_in_required or not_on_list
// does it show the way in, then joins again once signed in.
import { $, callJson, clearError, showError } from "/static/common.js";

const POLICY_TEXT = {
  open:
    "Open sale: anyone with this link may join. An open sale cannot tell people apart, " +
    "so one person could enter more than once.",
  email: "One place per person: sign in with your email address to join.",
  login: "One place per person: sign in with your account to join.",
  list: "This sale is only for the people on the organiser's list.",
};

/** Shows the sale's policy and who this browser is signed in as. */
export async function renderAccess(event) {
  $("access-policy").textContent = POLICY_TEXT[event.access] || "";
  $("access").dataset.access = event.access;
  let session = { signed_in: false };
  try {
    session = await callJson("GET", "/api/session");
  } catch {
    // Who we are is a courtesy line; joining still says what is needed.
  }
  $("signed-in").hidden = !session.signed_in;
  $("signed-in-as").textContent = session.display || "your account";
}

async function signOut() {
  try {
    await callJson("POST", "/api/sign-out");
  } catch (error) {
    return showError(error.message);
  }
  location.reload();
}

function here() {
  return location.pathname;
}

// The one sign-in in progress: the email challenge and who waits for it.
const emailFlow = { challenge: null, resolve: null };

async function sendLink(submitted) {
  submitted.preventDefault();
  clearError();
  const email = $("sign-in-email").value.trim();
  if (!email) return showError("Type your email address first.");
  $("email-send").disabled = true;
  try {
    const sent = await callJson("POST", "/api/sign-in/email", { body: { email, next: here() } });
    emailFlow.challenge = sent.challenge;
    $("code-sent-to").textContent = email;
    $("code-form").hidden = false;
    $("sign-in-code").focus();
  } catch (error) {
    showError(error.message);
  } finally {
    $("email-send").disabled = false;
  }
}

async function sendCode(submitted) {
  submitted.preventDefault();
  clearError();
  const code = $("sign-in-code").value.replace(/\s+/g, "");
  if (!emailFlow.challenge) return showError("Ask for a code first.");
  if (!/^\d{6}$/.test(code)) return showError("The code is the six digits in the email.");
  try {
    await callJson("POST", "/api/sign-in/email/code", {
      body: { challenge: emailFlow.challenge, code },
    });
  } catch (error) {
    return showError(error.message);
  }
  const resolve = emailFlow.resolve;
  emailFlow.resolve = null;
  if (resolve) resolve();
}

/** Shows the email form; resolves once a code signs this browser in. */
function emailSignIn() {
  $("email-form").hidden = false;
  return new Promise((resolve) => {
    emailFlow.resolve = resolve;
  });
}

/**
 * Shows how to sign in for this sale and resolves once signed in (for a
 * provider login or a personal link the browser leaves and comes back, so
 * those never resolve here). ``refusal`` is the join's error.
 */
export function signIn(event, refusal) {
  $("sign-in").hidden = false;
  $("sign-in-reason").textContent = refusal.message;
  $("not-on-list").hidden = refusal.code !== "not_on_list";
  const ways = event.sign_in || {};
  const login = $("login-link");
  login.hidden = !(event.access === "login" && ways.login);
  login.textContent = `Sign in with ${ways.login || "your account"}`;
  login.href = `/sign-in/oidc?next=${encodeURIComponent(here())}`;
  $("list-note").hidden = event.access !== "list";
  const byEmail = (event.access === "email" || event.access === "list") && ways.email;
  const done = byEmail ? emailSignIn() : new Promise(() => {});
  return done.then(() => {
    $("sign-in").hidden = true;
    return renderAccess(event);
  });
}

/** Wires the sign-in and sign-out controls once, when the page starts. */
export function wireSignIn() {
  $("email-form").addEventListener("submit", sendLink);
  $("code-form").addEventListener("submit", sendCode);
  $("sign-out").addEventListener("click", signOut);
  $("not-on-list-sign-out").addEventListener("click", signOut);
}
