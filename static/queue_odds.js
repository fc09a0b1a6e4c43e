// A queued fan's chance of a ticket and wait for its turn, from the figures
// every status and progress message carries: queue_engine/odds.py, line for
// line (tests/pages/test_fan_odds.py holds the two together; the module's
// docstring says how they are worked out and loadtests/odds_check.py how
// close they come).

const BUY_PRIOR = 2;
const TAKE_PRIOR = 2;
const WORDS = [
  [0.9, "very likely"],
  [0.65, "likely"],
  [0.35, "about even"],
];
const ONE_IN_N_FLOOR = 1 / 30;

/** The share of fans let in who buy, drawn toward everyone by BUY_PRIOR. */
function buyShare(chosen, buyers) {
  return (buyers + BUY_PRIOR) / (chosen + BUY_PRIOR);
}

/** What a buyer takes: [mean, variance] of the takes so far and TAKE_PRIOR even takes. */
export function likelyTake(figures) {
  const most = Math.max(1, figures.most_per_fan || 1);
  const priorMean = (1 + most) / 2;
  const priorSquare = (most * most - 1) / 12 + priorMean * priorMean;
  const buyers = figures.buyers || 0;
  const mean = figures.per_buyer || 0;
  const spread = figures.per_buyer_sd || 0;
  const weight = buyers + TAKE_PRIOR;
  const blended = (buyers * mean + TAKE_PRIOR * priorMean) / weight;
  const square = (buyers * (spread * spread + mean * mean) + TAKE_PRIOR * priorSquare) / weight;
  return [blended, Math.max(0, square - blended * blended)];
}

// Numerical Recipes' erfcc: erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z / 2),
// with a fractional error below 1.2e-7 (Python has math.erfc; JavaScript none).
const ERFC_COEFFICIENTS = [
  -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398,
  1.48851587, -0.82215223, 0.17087277,
];

function erfc(x) {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  let poly = 0;
  for (let i = ERFC_COEFFICIENTS.length - 1; i >= 0; i -= 1) {
    poly = poly * t + ERFC_COEFFICIENTS[i];
  }
  const value = t * Math.exp(-z * z + poly);
  return x >= 0 ? value : 2 - value;
}

/** The chance (0 to 1) that fan `number` gets at least one ticket. */
export function ticketChance(number, figures) {
  const serving = figures.serving || 0;
  const choosing = figures.choosing || 0;
  // Fans choosing far longer than any buyer took are counted as buying nothing.
  const likelyChoosers = choosing - (figures.choosing_long || 0);
  const held = figures.held || 0;
  const backShare = figures.hold_return_share || 0;
  const supply = (figures.remaining_total || 0) + held * backShare;
  if (supply <= 0) return 0;
  const before = Math.max(0, number - serving - 1) + likelyChoosers;
  const buyers = figures.buyers || 0;
  // Fans let in who have chosen: bought, let their turn go, or are counted out.
  const chosen = Math.max(buyers, serving - likelyChoosers);
  const share = buyShare(chosen, buyers);
  const [mean, takeVariance] = likelyTake(figures);
  const expected = before * share * mean;
  let variance = before * (share * (takeVariance + mean * mean) - (share * mean) ** 2);
  variance += (before * mean) ** 2 * share * (1 - share) / (chosen + BUY_PRIOR);
  variance += (before * share) ** 2 * takeVariance / (buyers + TAKE_PRIOR);
  // Which held tickets come back is chance too.
  variance += held * backShare * (1 - backShare);
  const room = supply - 0.5 - expected;
  if (variance <= 0) return room > 0 ? 1 : 0;
  return 0.5 * erfc(-room / Math.sqrt(2 * variance));
}

/** The chance as a fan reads it: "likely", "about even", "unlikely: about 1 in 12". */
export function chanceWords(chance) {
  for (const [least, words] of WORDS) {
    if (chance >= least) return words;
  }
  if (chance >= ONE_IN_N_FLOOR) return `unlikely: about 1 in ${Math.round(1 / chance)}`;
  return `very unlikely: less than 1 in ${Math.round(1 / ONE_IN_N_FLOOR)}`;
}

/** Whole seconds (half up) until a fan with `ahead` fans before it goes in at the rate. */
export function admissionWaitS(ahead, nextAdmitMs, ratePerMin, nowMs) {
  if (ratePerMin <= 0) return 0;
  const intervalMs = 60_000 / ratePerMin;
  // Without the bucket's count (a join's answer) the next fan is a whole interval away.
  const first = nextAdmitMs ?? nowMs + intervalMs;
  const waitMs = Math.max(0, first + ahead * intervalMs - nowMs);
  return Math.floor(waitMs / 1000 + 0.5);
}
