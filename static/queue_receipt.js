// What this browser keeps about its entry in a sale, in localStorage under
// "fairdrop.entry.<event id>", so that a later look at the draw has something
// the server cannot rewrite: the commitment the page saw when the fan joined
// (the seed's hash, the beacon round and its chain), the entrant digest when
// the page first saw the freeze, and the entry receipt the server signed at
// the join (fairdrop/receipts.py; `fairdrop verify-draw --receipt FILE`
// checks one). Each is written the first time it is seen and never replaced:
// what it is worth is that it was seen before the draw.
import { $ } from "/static/common.js";
import { API, EVENT_ID, callApi, page } from "/static/queue_state.js";

const STORE_KEY = `fairdrop.entry.${EVENT_ID}`;

let memory = {}; // when localStorage is refused (some private modes), this page's own copy

/** Everything recorded for this sale (an empty object at first). */
export function recorded() {
  try {
    const text = localStorage.getItem(STORE_KEY);
    if (text) return JSON.parse(text);
  } catch {
    // Unreadable or refused: the page's own copy is all there is.
  }
  return { ...memory };
}

function save(record) {
  memory = { ...record };
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(record));
  } catch {
    // Full or refused: kept for this page only.
  }
}

/**
 * Records the commitment from the public event and the draw document, each
 * part the first time it is seen: the seed hash, the beacon round and chain,
 * and the entrant digest once the entrants are frozen.
 */
export function noteCommitment(draw) {
  const record = recorded();
  const now = new Date().toISOString();
  const seedHash = (page.event && page.event.seed_hash) || (draw && draw.seed_hash);
  if (!record.seed_hash && seedHash) Object.assign(record, { seed_hash: seedHash, seen_at: now });
  const beacon = draw && draw.beacon;
  if (record.beacon_round == null && beacon && beacon.round != null) {
    Object.assign(record, { beacon_round: beacon.round, beacon_chain: beacon.chain_hash || "" });
  }
  if (!record.entrants_digest && draw && draw.entrants_digest) {
    Object.assign(record, {
      entrants_digest: draw.entrants_digest,
      frozen_at: draw.frozen_at || null,
      digest_seen_at: now,
    });
  }
  save(record);
  return record;
}

/** {receipt, signature} when `answer` is a signed receipt, else null. */
function signedReceipt(answer) {
  return answer && answer.receipt && answer.signature ? answer : null;
}

/**
 * Keeps the entry receipt from the join answer (or, when it has none, from
 * GET .../receipt) and the entry id, then shows them. A receipt for another
 * entry id (the fan signed in as someone else) replaces the kept one.
 */
export async function keepReceipt(joined) {
  let signed = signedReceipt(joined && joined.receipt);
  // Turned away as sold out: no place, so no receipt to ask for (the server says 404).
  const placed = joined && (joined.status !== "sold_out" || joined.number > 0);
  if (!signed && placed && joined.entrant_id) {
    try {
      signed = signedReceipt(await callApi("GET", `${API}/receipt`));
    } catch {
      signed = null; // a server without receipts: the entry id is still checked
    }
  }
  const record = recorded();
  const entryId = (signed && signed.receipt.entry_id) || (joined && joined.entrant_id) || "";
  if (signed && (!record.receipt || record.receipt.receipt.entry_id !== entryId)) {
    record.receipt = signed;
  }
  if (entryId) record.entry_id = entryId;
  save(record);
  showEntry(record);
  return record;
}

/** The fan queued again (queue_connection.js): a later number than the draw's is theirs now. */
export function noteRequeued() {
  save({ ...recorded(), requeued: true });
}

/** The kept receipt as a JSON file, downloaded by the browser (nothing leaves it). */
export function downloadReceipt() {
  const { receipt } = recorded();
  if (!receipt) return;
  const blob = new Blob([`${JSON.stringify(receipt, null, 2)}\n`], { type: "application/json" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `fairdrop-receipt-${EVENT_ID}-${receipt.receipt.entry_id}.json`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

function showEntry(record) {
  if (!record.entry_id) return;
  $("entry-card").hidden = false;
  $("entry-id").textContent = record.entry_id;
  $("receipt-download").hidden = !record.receipt;
}

/** Wires the receipt's download button (once, as the page starts). */
export function wireReceipt() {
  $("receipt-download").addEventListener("click", downloadReceipt);
}
