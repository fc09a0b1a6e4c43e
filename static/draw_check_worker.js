// Recomputes a published draw (docs/fairness.md, fairdrop-draw-v1 and v2) off
// the page's main thread, with WebCrypto: the seed against its commitment,
// the beacon value against its signature's hash, the entrant digest, the draw
// key, every entrant's sort key, the order, and every published number.
//
// The page fetches the draw document and the list and posts them here: this
// script is served, like every non-page answer, with "default-src 'none'"
// (web/edge.py), which is the worker's own policy and forbids its fetches.
//
// Built for 100k entrants on a phone: the list stays bytes (ids are offsets
// into it, never strings), HMACs go to WebCrypto SIGN_BATCH at a time (one
// trip through the event loop per batch, as in pow_worker.js), keys are
// compared as bytes with their first four as one number, and progress is
// posted after every batch (loadtests/browser_draw_check.py measures it).
//
// Message in: {seed, seedHash, algorithm, beacon, entrantsDigest, entrants,
//   list (ArrayBuffer of "<number> <entry id>\n" lines), ownId}.
// Messages out: {t: "progress", done, total}, then {t: "result", problems
//   ([{code, message}], empty when every check passed), entrants, digest,
//   ownListed, ownRecomputed (the fan's number in the list and recomputed;
//   null when not listed), stages (ms per step), ms} or {t: "error", message}.

const SIGN_BATCH = 2048;
const KEY_BYTES = 32;
const V2_CONTEXT = "fairdrop-draw-v2:";
const EXAMPLES = 3; // differing numbers named in a problem's message
const encoder = new TextEncoder();

function hexToBytes(hex) {
  if (typeof hex !== "string" || !/^([0-9a-f]{2})*$/.test(hex)) return null;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
  return bytes;
}

function bytesToHex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(bytes) {
  return bytesToHex(await crypto.subtle.digest("SHA-256", bytes));
}

function hmacKey(raw) {
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

/** The list's lines as offsets: the id of entry i is list[start[i], start[i] + length[i]). */
function parseList(list) {
  const lines = [];
  let at = 0;
  while (at < list.length) {
    let end = list.indexOf(0x0a, at);
    if (end === -1) end = list.length;
    if (end > at) lines.push([at, end]);
    at = end + 1;
  }
  const count = lines.length;
  const start = new Uint32Array(count);
  const length = new Uint32Array(count);
  const published = new Uint32Array(count);
  for (let i = 0; i < count; i += 1) {
    const [from, to] = lines[i];
    let number = 0;
    let p = from;
    while (p < to && list[p] >= 0x30 && list[p] <= 0x39 && p - from < 10) {
      number = number * 10 + (list[p] - 0x30);
      p += 1;
    }
    if (p === from || list[p] !== 0x20 || p + 1 >= to) {
      const line = new TextDecoder().decode(list.subarray(from, Math.min(to, from + 80)));
      throw new Error(`Line ${i + 1} of the published list is not "<number> <entry id>": ${line}`);
    }
    published[i] = number;
    start[i] = p + 1;
    length[i] = to - p - 1;
  }
  return { count, start, length, published };
}

/** Compares the ids of entries a and b as bytes (a shorter prefix first). */
function idComparer(list, { start, length }) {
  return (a, b) => {
    const sa = start[a];
    const sb = start[b];
    const n = Math.min(length[a], length[b]);
    for (let i = 0; i < n; i += 1) {
      const d = list[sa + i] - list[sb + i];
      if (d !== 0) return d;
    }
    return length[a] - length[b];
  };
}

/** D, and the first id listed twice (null when none): the ids sorted by bytes, each + "\n". */
async function entrantsDigestOf(list, entries, byId) {
  const order = Uint32Array.from({ length: entries.count }, (_, i) => i).sort(byId);
  let total = 0;
  for (let i = 0; i < entries.count; i += 1) total += entries.length[i] + 1;
  const joined = new Uint8Array(total);
  let at = 0;
  let duplicate = null;
  for (let k = 0; k < entries.count; k += 1) {
    const i = order[k];
    joined.set(list.subarray(entries.start[i], entries.start[i] + entries.length[i]), at);
    at += entries.length[i];
    joined[at] = 0x0a;
    at += 1;
    if (k > 0 && duplicate === null && byId(order[k - 1], i) === 0) duplicate = i;
  }
  return { digest: await sha256Hex(joined), duplicate };
}

/** The draw key K: the seed itself for v1; for v2 HMAC(seed, context + beacon value). */
async function drawKey(seed, algorithm, randomness) {
  if (algorithm === "fairdrop-draw-v1") return seed;
  const mac = await crypto.subtle.sign(
    "HMAC",
    await hmacKey(seed),
    encoder.encode(V2_CONTEXT + (randomness || "")),
  );
  return new Uint8Array(mac);
}

/** HMAC(K, D + ":" + id) of every entry, end to end in one array, KEY_BYTES each. */
async function sortKeys(key, digest, list, entries) {
  const prefix = encoder.encode(`${digest}:`);
  const { count, start, length } = entries;
  const offsets = new Uint32Array(count + 1);
  for (let i = 0; i < count; i += 1) offsets[i + 1] = offsets[i] + prefix.length + length[i];
  const messages = new Uint8Array(offsets[count]);
  for (let i = 0; i < count; i += 1) {
    messages.set(prefix, offsets[i]);
    messages.set(list.subarray(start[i], start[i] + length[i]), offsets[i] + prefix.length);
  }
  const keys = new Uint8Array(count * KEY_BYTES);
  for (let first = 0; first < count; first += SIGN_BATCH) {
    const last = Math.min(first + SIGN_BATCH, count);
    const signing = [];
    for (let i = first; i < last; i += 1) {
      signing.push(crypto.subtle.sign("HMAC", key, messages.subarray(offsets[i], offsets[i + 1])));
    }
    const macs = await Promise.all(signing);
    for (let i = first; i < last; i += 1) keys.set(new Uint8Array(macs[i - first]), i * KEY_BYTES);
    self.postMessage({ t: "progress", done: last, total: count });
  }
  return keys;
}

/** Entry indexes in draw order: by key bytes, equal keys by id bytes. */
function drawOrder(keys, count, byId) {
  const view = new DataView(keys.buffer);
  const head = new Uint32Array(count); // each key's first 4 bytes, most significant first
  for (let i = 0; i < count; i += 1) head[i] = view.getUint32(i * KEY_BYTES);
  const byKey = (a, b) => {
    if (head[a] !== head[b]) return head[a] < head[b] ? -1 : 1;
    for (let j = 4; j < KEY_BYTES; j += 1) {
      const d = keys[a * KEY_BYTES + j] - keys[b * KEY_BYTES + j];
      if (d !== 0) return d;
    }
    return byId(a, b);
  };
  return Uint32Array.from({ length: count }, (_, i) => i).sort(byKey);
}

function idText(list, entries, i) {
  return new TextDecoder().decode(
    list.subarray(entries.start[i], entries.start[i] + entries.length[i]),
  );
}

/** Problems with the published numbers: listed 1..N in order, and each the one the seed gives. */
function numberProblems(list, entries, order) {
  const problems = [];
  const { count, published } = entries;
  for (let i = 0; i < count; i += 1) {
    if (published[i] !== i + 1) {
      problems.push({
        code: "list_order",
        message:
          `The list is not numbered 1 to ${count} in order ` +
          `(line ${i + 1} says ${published[i]}).`,
      });
      break;
    }
  }
  const differing = [];
  let differs = 0;
  for (let n = 0; n < count; n += 1) {
    const i = order[n];
    if (published[i] === n + 1) continue;
    differs += 1;
    if (differing.length < EXAMPLES) {
      const id = idText(list, entries, i);
      differing.push(`${id} is listed as ${published[i]}, the seed gives ${n + 1}`);
    }
  }
  if (differs > 0) {
    problems.push({
      code: "number_differs",
      message:
        `${differs} published number${differs === 1 ? "" : "s"} differ from what the seed ` +
        `gives: ${differing.join("; ")}.`,
      count: differs,
    });
  }
  return problems;
}

/** The seed against its commitment, and the beacon value against its signature. */
async function commitmentProblems({ seed, seedHash, algorithm, beacon }) {
  const problems = [];
  const seedBytes = hexToBytes(seed);
  if (!seedBytes || seedBytes.length === 0) {
    const missing = { code: "seed_missing", message: "The draw publishes no seed in hex." };
    return { problems: [missing], seedBytes: null };
  }
  const hashed = await sha256Hex(seedBytes);
  if (hashed !== seedHash) {
    problems.push({
      code: "seed_hash",
      message: `SHA-256 of the published seed is ${hashed}, not the committed ${seedHash}.`,
    });
  }
  if (algorithm === "fairdrop-draw-v2") {
    const status = beacon && beacon.status;
    if (status === "verified") {
      const signature = hexToBytes(beacon.signature);
      const expected = signature ? await sha256Hex(signature) : "";
      if (expected !== beacon.randomness) {
        problems.push({
          code: "beacon_value",
          message: `The beacon value ${beacon.randomness} is not SHA-256 of its signature.`,
        });
      }
    } else if (status !== "unavailable" || (beacon && beacon.randomness)) {
      problems.push({
        code: "beacon_missing",
        message: `The draw is done but its beacon is "${status}": not verified, not unavailable.`,
      });
    }
  } else if (algorithm !== "fairdrop-draw-v1") {
    const unknown = { code: "algorithm", message: `Unknown draw algorithm "${algorithm}".` };
    return { problems: [...problems, unknown], seedBytes: null };
  }
  return { problems, seedBytes };
}

/** The answer when the draw cannot be recomputed at all: only its problems. */
function unrecomputed(problems, started) {
  const ms = performance.now() - started;
  return { problems, entrants: 0, digest: "", ownListed: null, ownRecomputed: null, ms };
}

async function check(input) {
  const started = performance.now();
  const list = new Uint8Array(input.list);
  const { problems, seedBytes } = await commitmentProblems(input);
  if (!seedBytes) return unrecomputed(problems, started);
  const stages = {};
  let mark = performance.now();
  const lap = (name) => {
    const now = performance.now();
    stages[name] = now - mark;
    mark = now;
  };
  let entries;
  try {
    entries = parseList(list);
  } catch (error) {
    return unrecomputed([...problems, { code: "list_format", message: error.message }], started);
  }
  lap("parse");
  if (entries.count !== input.entrants) {
    problems.push({
      code: "count",
      message: `The list has ${entries.count} entries; the draw says ${input.entrants}.`,
    });
  }
  const byId = idComparer(list, entries);
  const { digest, duplicate } = await entrantsDigestOf(list, entries, byId);
  if (duplicate !== null) {
    const id = idText(list, entries, duplicate);
    problems.push({ code: "duplicate", message: `Entry ${id} is listed more than once.` });
  }
  if (digest !== input.entrantsDigest) {
    problems.push({
      code: "digest",
      message: `The listed entries digest to ${digest}, not the published ${input.entrantsDigest}.`,
    });
  }
  lap("digest");
  const randomness = input.beacon ? input.beacon.randomness : "";
  const key = await hmacKey(await drawKey(seedBytes, input.algorithm, randomness));
  // The keys are computed with the digest of the list itself, so a wrong
  // published digest does not hide which numbers would differ.
  const keys = await sortKeys(key, digest, list, entries);
  lap("keys");
  const order = drawOrder(keys, entries.count, byId);
  lap("sort");
  problems.push(...numberProblems(list, entries, order));
  const own = ownPlace(list, entries, order, input.ownId);
  const ms = performance.now() - started;
  return { problems, entrants: entries.count, digest, ...own, stages, ms };
}

/** The fan's own entry: its published number and the recomputed one (null: not listed). */
function ownPlace(list, entries, order, ownId) {
  const own = encoder.encode(ownId || "");
  for (let n = 0; own.length && n < entries.count; n += 1) {
    const i = order[n];
    if (entries.length[i] !== own.length) continue;
    const id = list.subarray(entries.start[i], entries.start[i] + own.length);
    if (id.every((b, j) => b === own[j])) {
      return { ownListed: entries.published[i], ownRecomputed: n + 1 };
    }
  }
  return { ownListed: null, ownRecomputed: null };
}

self.addEventListener("message", async (event) => {
  try {
    self.postMessage({ t: "result", ...(await check(event.data)) });
  } catch (error) {
    const message = String(error && error.message ? error.message : error);
    self.postMessage({ t: "error", message });
  }
});
