// This browser's own check of a published draw (docs/fairness.md): fetches
// the list of entrants the draw document names and has draw_check_worker.js
// recompute every number from the seed. The fan page uses it at the reveal
// (queue_verify.js); loadtests/browser_draw_check.py times it.

/** The published list as bytes; `entrants_url` may be absolute or relative to this page. */
export async function fetchEntrants(draw) {
  const url = new URL(draw.entrants_url, location.href);
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`The list of entrants answered ${response.status}.`);
  return response.arrayBuffer();
}

/**
 * Recomputes the draw in a worker: resolves with the worker's result
 * ({problems, entrants, digest, ownListed, ownRecomputed, ms}); `onProgress`
 * gets (done, total) as the sort keys are computed. `list` is handed over to
 * the worker (transferred), so it is empty here afterwards.
 */
export function checkInWorker(draw, list, ownId = "", onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const worker = new Worker("/static/draw_check_worker.js");
    worker.addEventListener("message", (event) => {
      const message = event.data;
      if (message.t === "progress") return onProgress(message.done, message.total);
      worker.terminate();
      if (message.t === "result") resolve(message);
      else reject(new Error(message.message || "the draw check failed"));
    });
    worker.addEventListener("error", (event) => {
      worker.terminate();
      reject(new Error(event.message || "the draw check's worker failed"));
    });
    const input = {
      seed: draw.seed,
      seedHash: draw.seed_hash,
      algorithm: draw.algorithm,
      beacon: draw.beacon || null,
      entrantsDigest: draw.entrants_digest,
      entrants: draw.entrants,
      list,
      ownId,
    };
    worker.postMessage(input, [list]);
  });
}
