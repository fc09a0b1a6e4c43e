// The fan's browser checks the draw. From the join on, the page records the
// commitment it sees (queue_receipt.js); once the draw is published it
// recomputes every number in a worker (draw_check.js) and says either
// "Checked by your browser: number N is what the published seed gives" or,
// loudly (role="alert"), exactly what did not match: the commitment changed
// since the fan joined, the fan's entry is missing (with the signed receipt
// to prove it), or a number differs.
import { $, el } from "/static/common.js";
import { checkInWorker, fetchEntrants } from "/static/draw_check.js";
import { downloadReceipt, keepReceipt, noteCommitment, recorded } from "/static/queue_receipt.js";
import { API, callApi, page, serverNow } from "/static/queue_state.js";

// Asking whether the draw is out: first just after the drop (or the beacon
// round it waits for), then less often; a little at random each time, so the
// pages of a big sale do not all ask in the same instant.
const RETRY_MS = [2_000, 3_000, 5_000, 8_000, 15_000, 30_000];
const JITTER_MS = 2_000;
const LONGEST_WAIT_MS = 3_600_000; // a timer is set again after an hour
// The list is the heavy part (about 29 bytes an entrant): its downloads are
// spread over up to 30 s in a big sale, 0.3 ms an entrant.
const SPREAD_MS_PER_ENTRANT = 0.3;
const SPREAD_MAX_MS = 30_000;

// Hashes and ids in a message: shown as <code>, which may break anywhere on a phone.
const LONG_TOKEN = /([A-Za-z0-9_-]{20,})/;

const RECEIPT_BUTTON = "Download your entry receipt";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const jitter = (ms) => Math.random() * ms;
const when = (iso) => (iso ? ` (${new Date(iso).toLocaleString()})` : "");

/** Keeps the join's receipt and checks the draw once it is published. */
export async function startDrawCheck(joined) {
  await keepReceipt(joined);
  $("check-line").textContent = "Your browser checks the draw once it is published.";
  try {
    const draw = await drawWhenPublished();
    $("check-line").textContent = "The draw is out: your browser checks it in a moment.";
    await sleep(jitter(Math.min(SPREAD_MAX_MS, (draw.entrants || 0) * SPREAD_MS_PER_ENTRANT)));
    await checkDraw(draw);
  } catch (error) {
    // The list did not come, say: a reason to try again, not proof of a bad draw.
    $("check-progress").hidden = true;
    $("check-line").textContent =
      `Your browser could not check the draw (${error.message}). Reload the page to try again.`;
    $("entry-card").dataset.check = "unchecked";
  }
}

/** The draw document once it says drawn; the commitment noted on every look. */
async function drawWhenPublished() {
  let late = 0; // looks after the drop (and the beacon round) that found no draw yet
  for (;;) {
    let draw = null;
    try {
      draw = await callApi("GET", `${API}/draw`);
    } catch {
      // Busy or offline for a moment: asked again below.
    }
    if (draw) {
      noteCommitment(draw);
      if (draw.drawn) return draw;
    }
    const beacon = draw && draw.beacon;
    const roundAt = beacon && beacon.round_time ? beacon.round_time * 1000 : 0;
    const due = Math.max(Date.parse(page.event.drop_at), roundAt) - serverNow();
    const retry = RETRY_MS[Math.min(late, RETRY_MS.length - 1)];
    if (due <= 0) late += 1;
    await sleep((due > 0 ? Math.min(LONGEST_WAIT_MS, due) : retry) + jitter(JITTER_MS));
  }
}

/** What the page recorded against what the draw says now (checked before any crypto). */
function commitmentProblems(draw, record) {
  const problems = [];
  if (record.seed_hash && record.seed_hash !== draw.seed_hash) {
    problems.push(
      `The commitment changed since you joined: this page saw seed hash ${record.seed_hash}` +
        `${when(record.seen_at)}, the draw now shows ${draw.seed_hash}.`,
    );
  }
  if (page.event.seed_hash && page.event.seed_hash !== draw.seed_hash) {
    problems.push(
      `The sale shows seed hash ${page.event.seed_hash} but the draw ${draw.seed_hash}.`,
    );
  }
  const round = draw.beacon ? draw.beacon.round : null;
  if (record.beacon_round != null && round !== record.beacon_round) {
    problems.push(
      `The beacon round changed since you joined: this page saw round ${record.beacon_round}, ` +
        `the draw now uses ${round}.`,
    );
  }
  if (record.entrants_digest && record.entrants_digest !== draw.entrants_digest) {
    problems.push(
      `The entrants changed after the freeze: this page saw digest ${record.entrants_digest}` +
        `${when(record.digest_seen_at)}, the draw now shows ${draw.entrants_digest}.`,
    );
  }
  return problems;
}

/** Whether this fan's entry must be in the draw: entered in the window, not after the drop. */
function enteredTheWindow(record, draw, given) {
  const receipt = record.receipt ? record.receipt.receipt : null;
  // A resale round's receipt (version 2, naming its round: fairdrop/receipts.py)
  // promises a line in that round's list, not in the sale's.
  if (receipt && receipt.round) return false;
  if (receipt && receipt.status === "buffered") return true;
  // A number inside the drawn range, from the server's receipt or the page's place.
  return [receipt ? receipt.number : 0, given].some((n) => n > 0 && n <= draw.entrants);
}

/** The number this fan was given: the page's place, else the kept receipt's (0: none yet). */
function givenNumber(record) {
  if (page.status && page.status.number > 0) return page.status.number;
  return record.receipt ? record.receipt.receipt.number || 0 : 0;
}

/** Problems with the fan's own entry; `given` is the number the page was told. */
function ownProblems(record, draw, result, given) {
  const { ownListed, ownRecomputed } = result;
  if (!record.entry_id) return [];
  if (ownListed === null) {
    if (!enteredTheWindow(record, draw, given)) return [];
    const text = `Your entry ${record.entry_id} is missing from the published list.`;
    return [{ missing: true, text }];
  }
  const problems = [];
  if (ownListed !== ownRecomputed) {
    problems.push(`Your number is published as ${ownListed}, but the seed gives ${ownRecomputed}.`);
  }
  // A fan who queued again from this browser has a later place: the list keeps
  // the drawn number they gave up (buffer/published.py).
  const later = record.requeued && given > draw.entrants;
  if (given > 0 && !later && given !== ownListed) {
    problems.push(`You were given number ${given}, but the list says ${ownListed}.`);
  }
  return problems.map((text) => ({ text }));
}

async function checkDraw(draw) {
  const record = recorded();
  showProgress(0, draw.entrants || 0);
  const before = commitmentProblems(draw, record);
  const list = await fetchEntrants(draw);
  const result = await checkInWorker(draw, list, record.entry_id || "", showProgress);
  const given = givenNumber(record);
  const own = ownProblems(record, draw, result, given);
  const failed = [...before, ...result.problems.map((p) => p.message), ...own.map((p) => p.text)];
  showOutcome({ draw, record, result, failed, missing: own.some((p) => p.missing), given });
}

// ---------- what the fan sees ----------

function showProgress(done, total) {
  $("entry-card").hidden = false;
  $("entry-card").dataset.check = "checking";
  const bar = $("check-progress");
  bar.hidden = false;
  bar.max = Math.max(1, total);
  bar.value = done;
  const share = total ? Math.floor((100 * done) / total) : 0;
  $("check-line").textContent = `Your browser is checking the draw… ${share}%`;
}

function successLine(draw, record, result, given) {
  const checked = "Checked by your browser:";
  if (result.ownListed !== null) {
    return `${checked} number ${result.ownListed} is what the published seed gives.`;
  }
  const all = `all ${result.entrants} drawn numbers are what the published seed gives`;
  if (record.entry_id && given > draw.entrants) {
    return `${checked} ${all}. You joined after the drop: your number ${given} comes after them.`;
  }
  return `${checked} ${all}.`;
}

function beaconDetails(draw) {
  const b = draw.beacon;
  if (draw.algorithm !== "fairdrop-draw-v2" || !b) return [];
  const promise = `Promise kept: ${draw.promise}.`;
  if (b.status !== "verified") {
    return [`No beacon value could be had for round ${b.round}: the seed alone drew.`, promise];
  }
  const chain = String(b.chain_hash || "").slice(0, 16);
  const mixed =
    `The seed was mixed with drand round ${b.round} (chain ${chain}…), published after the ` +
    `entrants were frozen: value ${b.randomness}, the SHA-256 of its signature (the server ` +
    "checked the signature; fairdrop verify-draw checks it again).";
  return [mixed, promise];
}

function details(draw, record, result) {
  const recordedOn = record.seen_at ? `, the hash this page recorded${when(record.seen_at)}` : "";
  const frozen = record.digest_seen_at
    ? `, as this page saw it at the freeze${when(record.digest_seen_at)}`
    : "";
  const took = result.ms < 1000 ? "less than a second" : `${(result.ms / 1000).toFixed(1)} s`;
  const items = [
    `The published seed's SHA-256 is the committed ${draw.seed_hash}${recordedOn}.`,
    ...beaconDetails(draw),
    `The ${result.entrants} listed entries digest to ${result.digest}, the published ` +
      `digest${frozen}.`,
    `Every entry's key HMAC-SHA256(K, digest:id), the order they give, and all ` +
      `${result.entrants} published numbers (${draw.algorithm}, docs/fairness.md).`,
  ];
  if (result.ownListed !== null) {
    items.push(
      `Your entry ${record.entry_id} is number ${result.ownListed} in the list and in the ` +
        "recomputation.",
    );
  }
  items.push(`It took your browser ${took}.`);
  return items;
}

/** A list item of `text`, its hashes and ids as code. */
function item(text) {
  const parts = text.split(LONG_TOKEN);
  return el("li", {}, ...parts.map((part, i) => (i % 2 ? el("code", {}, part) : part)));
}

/** The loud failure; a missing entry offers the receipt that proves it, first. */
function showFailure(failed, missing, record) {
  const parts = [
    el("strong", {}, "The draw does not check out."),
    el("ul", {}, ...failed.map(item)),
  ];
  if (missing && record.receipt) {
    const button = el("button", { type: "button", class: "primary block" }, RECEIPT_BUTTON);
    button.addEventListener("click", downloadReceipt);
    parts.push(el("p", {}, "Your receipt is signed by the server and proves you entered."), button);
    $("receipt-download").hidden = true; // the one in the alert is the one to press
  }
  const line = $("check-line");
  line.textContent = "Your browser found a problem with the draw.";
  line.classList.remove("banner", "banner-good");
  $("check-failed").replaceChildren(...parts);
  $("check-failed").hidden = false;
  $("entry-card").dataset.check = "failed";
}

function showOutcome({ draw, record = {}, result, failed, missing = false, given = 0 }) {
  $("entry-card").hidden = false;
  $("check-progress").hidden = true;
  if (failed.length) return showFailure(failed, missing, record);
  $("check-failed").hidden = true;
  const line = $("check-line");
  line.textContent = successLine(draw, record, result, given);
  line.classList.add("banner", "banner-good");
  $("check-list").replaceChildren(...details(draw, record, result).map(item));
  $("check-details").hidden = false;
  $("entry-card").dataset.check = "checked";
  return undefined;
}
