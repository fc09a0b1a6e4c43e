// Proof of work before joining a sale that asks for it (web/proof_of_work.py):
// fetch this browser's challenge, solve it in a Web Worker (pow_worker.js, so
// the page stays responsive), and hand the join its solution as
// {"altcha": "<base64 payload>"}. The server answers {"required": false} when
// the join needs none (no proof asked, or this fan proved already).
import { callJson } from "/static/common.js";

/** Finds the challenge's number in a worker; resolves with {number, tries, ms}. */
export function solveInWorker(challenge) {
  return new Promise((resolve, reject) => {
    const worker = new Worker("/static/pow_worker.js");
    worker.addEventListener("message", (event) => {
      worker.terminate();
      if (event.data.number === null) reject(new Error(event.data.error || "no number solves it"));
      else resolve(event.data);
    });
    worker.addEventListener("error", (event) => {
      worker.terminate();
      reject(new Error(event.message || "the proof-of-work worker failed"));
    });
    const { algorithm, challenge: hash, salt, maxnumber } = challenge;
    worker.postMessage({ algorithm, challenge: hash, salt, maxnumber });
  });
}

/**
 * The solution for this browser's next join on the sale at `api`, or null when
 * the join needs none. `onSolving` is called when the work starts.
 */
export async function proofForJoin(api, onSolving = () => {}) {
  const challenge = await callJson("GET", `${api}/challenge`);
  if (!challenge.required) return null;
  onSolving();
  const { number } = await solveInWorker(challenge);
  const { algorithm, challenge: hash, salt, signature } = challenge;
  return btoa(JSON.stringify({ algorithm, challenge: hash, number, salt, signature }));
}
