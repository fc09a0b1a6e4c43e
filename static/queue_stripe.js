// Paying for the hold with Stripe: load Stripe.js once, show its Payment
// Element when the server starts a payment, confirm it ("Pay now"), and take
// the form down when the hold ends. The order itself still arrives on the
// socket, once Stripe's webhook has told the server the money went through.
import { $, clearError, el, showError } from "/static/common.js";
import { render } from "/static/queue_render.js";
import { page } from "/static/queue_state.js";

// An intent in these states has the money (or soon will): wait for the order.
const INTENT_PAID = new Set(["succeeded", "processing", "requires_capture"]);

const stripeScripts = new Map(); // Stripe.js URL -> Promise of window.Stripe

/** Adds Stripe.js to the page once; later calls reuse it. */
function loadStripeJs(url) {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  if (!stripeScripts.has(url)) {
    const loading = new Promise((resolve, reject) => {
      const script = el("script", { src: url, async: true });
      script.addEventListener("load", () =>
        window.Stripe ? resolve(window.Stripe) : reject(new Error("Stripe.js did not start")),
      );
      script.addEventListener("error", () => reject(new Error("Stripe.js could not be loaded")));
      document.head.append(script);
    });
    // A failed load may be tried again (the next "Pay" asks for a fresh one).
    loading.catch(() => stripeScripts.delete(url));
    stripeScripts.set(url, loading);
  }
  return stripeScripts.get(url);
}

/** The server started a Stripe payment for the hold: show Stripe's form for it. */
export async function showStripeForm(payment) {
  const current = page.stripePay;
  if (current && current.clientSecret === payment.client_secret) return; // asked twice
  dropStripeForm();
  const pay = { holdId: payment.hold_id, clientSecret: payment.client_secret, stage: "loading" };
  page.stripePay = pay;
  render();
  try {
    const Stripe = await loadStripeJs(payment.stripe.js_url);
    if (page.stripePay !== pay) return; // the hold ended meanwhile
    pay.stripe = Stripe(payment.stripe.publishable_key);
    pay.elements = pay.stripe.elements({ clientSecret: pay.clientSecret });
    pay.element = pay.elements.create("payment");
    pay.stage = "form";
    render(); // the container is shown before Stripe measures it
    pay.element.mount($("payment-element"));
  } catch (error) {
    if (page.stripePay !== pay) return;
    dropStripeForm();
    showError(`The payment form could not be shown (${error.message}). Please try again.`);
  }
  render();
}

export function dropStripeForm() {
  const pay = page.stripePay;
  page.stripePay = null;
  if (pay && pay.element && typeof pay.element.destroy === "function") {
    try {
      pay.element.destroy();
    } catch {
      // Already gone: nothing to tidy.
    }
  }
  $("payment-element").replaceChildren();
}

/** Why the payment did not go through, or "" when it did (or is going through). */
function stripeFailure(result) {
  if (!result) return "";
  if (result.error) return result.error.message || "Your payment did not go through.";
  const intent = result.paymentIntent;
  if (!intent || INTENT_PAID.has(intent.status)) return "";
  const lastError = intent.last_payment_error;
  return (lastError && lastError.message) || "Your payment did not go through. Please try again.";
}

/** "Pay now": Stripe.js confirms (3-D Secure if the bank asks); the webhook makes the order. */
export async function confirmStripePayment() {
  const pay = page.stripePay;
  if (!pay || pay.stage !== "form") return;
  clearError();
  pay.stage = "confirming";
  render();
  let result;
  try {
    if (typeof pay.stripe.confirmPayment === "function") {
      result = await pay.stripe.confirmPayment({
        elements: pay.elements,
        redirect: "if_required",
        confirmParams: { return_url: location.href },
      });
    } else {
      // Older Stripe.js (and localstripe's stand-in) has only the card flow.
      result = await pay.stripe.confirmCardPayment(pay.clientSecret, {
        payment_method: { card: pay.element },
      });
    }
  } catch (error) {
    result = { error: { message: error.message } };
  }
  if (page.stripePay !== pay) return; // the order (or the release) came first
  const failure = stripeFailure(result);
  pay.stage = failure ? "form" : "waiting";
  if (failure) showError(failure);
  render();
}
