// The fan page's words for numbers: prices, countdowns, waits and counts.

export function formatMoney(cents, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
  } catch {
    // An unknown currency code must not break the page.
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}

export function formatCountdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3_600);
  const minutes = Math.floor((total % 3_600) / 60);
  const seconds = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  if (days > 0) return `${days} d ${hours} h ${pad(minutes)} min`;
  if (hours > 0) return `${hours}:${pad(minutes)}:${pad(seconds)}`;
  return `${minutes}:${pad(seconds)}`;
}

/** A short wait: "5 s", or a countdown when it is a minute or more; "a few seconds" once due. */
export function formatSeconds(ms) {
  if (ms <= 0) return "a few seconds";
  return ms < 60_000 ? `${Math.ceil(ms / 1000)} s` : formatCountdown(ms);
}

export function formatWait(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds <= 0) return "any moment";
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds % 60);
  if (minutes === 0) return `about ${rest} s`;
  return rest === 0 ? `about ${minutes} min` : `about ${minutes} min ${rest} s`;
}

/** A count and its noun: "1 fan", "12 fans". */
export function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
