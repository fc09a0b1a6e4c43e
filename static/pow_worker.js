// Solves a proof-of-work challenge of the ALTCHA scheme (v1) off the page's
// main thread (web/proof_of_work.py makes them): finds the number n in
// 0..maxnumber with SHA-256(salt + n) === challenge, n written in decimal,
// the hash compared as bytes. WebCrypto's digest is asynchronous, so numbers
// are hashed BATCH at a time: one trip through the worker's event loop per
// batch instead of per number (loadtests/pow_bench.py measures the speed).
//
// Message in: {algorithm: "SHA-256", challenge, salt, maxnumber}.
// Message out: {number, tries, ms}; number is null when none in range solves it.

const BATCH = 256;

function hexToBytes(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
  return bytes;
}

function sameBytes(buffer, expected) {
  const bytes = new Uint8Array(buffer);
  if (bytes.length !== expected.length) return false;
  for (let i = 0; i < bytes.length; i += 1) if (bytes[i] !== expected[i]) return false;
  return true;
}

async function solve({ algorithm, challenge, salt, maxnumber }) {
  if (algorithm !== "SHA-256") throw new Error(`unsupported algorithm ${algorithm}`);
  const expected = hexToBytes(challenge);
  const encoder = new TextEncoder();
  const started = performance.now();
  for (let first = 0; first <= maxnumber; first += BATCH) {
    const last = Math.min(first + BATCH - 1, maxnumber);
    const digests = [];
    for (let n = first; n <= last; n += 1) {
      digests.push(crypto.subtle.digest("SHA-256", encoder.encode(salt + n)));
    }
    const hashed = await Promise.all(digests);
    for (let i = 0; i < hashed.length; i += 1) {
      if (sameBytes(hashed[i], expected)) {
        return { number: first + i, tries: first + i + 1, ms: performance.now() - started };
      }
    }
  }
  return { number: null, tries: maxnumber + 1, ms: performance.now() - started };
}

self.addEventListener("message", async (event) => {
  try {
    self.postMessage(await solve(event.data));
  } catch (error) {
    self.postMessage({ number: null, error: String(error) });
  }
});
