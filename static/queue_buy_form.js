// The fan page's buy form: one stepper per ticket type, each kept within the
// fan's limit, the live stock and a presale link's share, and the total; and
// an optional discount code, priced by the server once the tickets are held.
import { $, el } from "/static/common.js";
import { formatMoney } from "/static/queue_format.js";
import { buyingWithPresale, eventCurrency, page } from "/static/queue_state.js";

export function buildBuyRows(types) {
  const rows = $("buy-rows");
  rows.replaceChildren();
  types.forEach((type, index) => {
    const inputId = `qty-${index}`;
    const controls = {
      input: el("input", {
        id: inputId,
        name: `qty-${type.id}`,
        type: "number",
        inputmode: "numeric",
        min: 0,
        max: type.per_person_limit,
        step: 1,
        value: 0,
      }),
      fewer: el("button", { type: "button", "aria-label": `One fewer ${type.name}` }, "−"),
      more: el("button", { type: "button", "aria-label": `One more ${type.name}` }, "+"),
      limit: el("span", { class: "muted small" }, ""),
    };
    controls.fewer.addEventListener("click", () => stepQuantity(type.id, -1));
    controls.more.addEventListener("click", () => stepQuantity(type.id, +1));
    controls.input.addEventListener("input", updateBuyTotal);
    controls.input.addEventListener("change", () => setQuantity(type.id, quantityOf(type.id)));
    page.buyRows.set(type.id, controls);
    rows.append(
      el(
        "div",
        { class: "buy-row", "data-type": type.id },
        el(
          "div",
          { class: "buy-row-head" },
          el("label", { for: inputId, class: "ticket-name" }, type.name),
          el("span", { class: "ticket-meta" }, formatMoney(type.price_cents, type.currency)),
        ),
        el("div", { class: "stepper" }, controls.fewer, controls.input, controls.more),
        controls.limit,
      ),
    );
  });
  $("discount-field").hidden = buyingWithPresale();
  updateBuyTotal();
}

function maxQuantity(typeId) {
  const type = page.typesById.get(typeId);
  const remaining = page.status ? page.status.remaining[typeId] : undefined;
  const most = Math.max(0, Math.min(type.per_person_limit, remaining ?? type.remaining));
  if (!buyingWithPresale()) return most;
  const link = page.presale;
  return link.ticket_type && link.ticket_type !== typeId ? 0 : Math.min(most, link.left);
}

/** The chosen quantity, within 0..max whatever was typed. */
function quantityOf(typeId) {
  const value = parseInt(page.buyRows.get(typeId).input.value, 10);
  return Number.isFinite(value) ? Math.min(Math.max(value, 0), maxQuantity(typeId)) : 0;
}

function setQuantity(typeId, quantity) {
  page.buyRows.get(typeId).input.value = String(quantity);
  updateBuyLimits();
}

function stepQuantity(typeId, delta) {
  setQuantity(typeId, Math.min(Math.max(quantityOf(typeId) + delta, 0), maxQuantity(typeId)));
}

function limitText(type, max) {
  if (max === 0) return "None left right now";
  if (max < type.per_person_limit) return `Only ${max} left`;
  return `Up to ${max} per person`;
}

/** Live stock can shrink while the fan chooses: keep every stepper within it. */
export function updateBuyLimits() {
  for (const [typeId, controls] of page.buyRows) {
    const max = maxQuantity(typeId);
    const typed = parseInt(controls.input.value, 10);
    // Only pull a number down to the stock; leave a half-typed field alone.
    if (Number.isFinite(typed) && typed > max) controls.input.value = String(max);
    controls.input.max = String(max);
    controls.input.disabled = max === 0;
    controls.fewer.disabled = quantityOf(typeId) <= 0;
    controls.more.disabled = quantityOf(typeId) >= max;
    controls.limit.textContent = limitText(page.typesById.get(typeId), max);
  }
  updateBuyTotal();
}

export function chosenItems() {
  return page.event.ticket_types
    .map((type) => ({ type: type.id, quantity: quantityOf(type.id) }))
    .filter((item) => item.quantity > 0);
}

/** The typed discount code, '' for none; a presale link's holds take none. */
export function discountCode() {
  return buyingWithPresale() ? "" : $("discount-code").value.trim();
}

/** A discounted hold's price, as the server computed it: the page never prices a discount.
 * An answer read by polling has the code but no price: the total waits for the payment. */
export function showHoldPrice(price, discount) {
  $("hold-discount-line").hidden = !price && !discount;
  if (!price) {
    if (discount) $("hold-discount-code").textContent = discount.code;
    $("hold-discount").textContent = discount ? "applied when you pay" : "";
    $("hold-total-line").hidden = $("hold-total-line").hidden || Boolean(discount);
    return;
  }
  $("hold-discount-code").textContent = price.discount_code;
  $("hold-discount").textContent = `−${formatMoney(price.discount_cents, price.currency)}`;
  $("hold-total").textContent = formatMoney(price.total_cents, price.currency);
}

function updateBuyTotal() {
  const cents = chosenItems().reduce(
    (sum, item) => sum + item.quantity * page.typesById.get(item.type).price_cents,
    0,
  );
  $("buy-total").textContent = formatMoney(cents, eventCurrency());
}
