// The dashboard's charts, drawn with uPlot (static/vendor/uplot, loaded before
// this module as the global `uPlot`) from the samples the live socket pushes:
// one a second per sale, taken by the clock (queue_engine/samples.py names
// their fields). Each chart is rebuilt only when its lines change (a new
// ticket type, a new reason for refusals); otherwise it is given the data again.
import { $ } from "/static/common.js";
import { spanWords } from "/static/organiser_countdown.js";

const KEPT = 3_600; // as many samples as the server keeps
const HEIGHT = 170;
const RATE_WINDOW_S = 10; // the admission rate is averaged over this much
const PACE_WINDOW_S = 30; // and the selling pace over this much
// Readable on the light and the dark background alike.
// Time ticks a whole number of seconds apart (uPlot would mark half seconds on a short history).
const TIME_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600];
const COLOURS = ["#2f7fd8", "#e8590c", "#2f9e44", "#ae3ec9", "#d6336c", "#1098ad", "#f59f00", "#74b816"];
// buffer/entry_tallies.py REFUSALS, in plain words.
const REFUSAL_WORDS = {
  duplicate: "joined again",
  not_open: "before the window",
  sign_in_required: "not signed in",
  not_on_list: "not on the list",
  address_busy: "address's share used",
  rate_limited: "too fast",
  pow_missing: "no proof of work",
  pow_invalid: "bad proof of work",
  pow_replayed: "proof of work reused",
  sold_out: "after the sell-out",
};

const charts = { samples: [], typeNames: new Map(), drawn: new Map(), observer: null };

const sum = (byKey) => Object.values(byKey || {}).reduce((a, b) => a + b, 0);

/** The figure's change a second between each sample and the one before (null for the first). */
function perSecond(samples, figure) {
  return samples.map((sample, i) => {
    if (i === 0) return null;
    const seconds = sample.s - samples[i - 1].s;
    return seconds > 0 ? Math.max(0, (figure(sample) - figure(samples[i - 1])) / seconds) : null;
  });
}

/** The figure's change a second over the last `windowS` seconds, at each sample. */
function averaged(samples, figure, windowS) {
  let start = 0;
  return samples.map((sample, i) => {
    while (sample.s - samples[start].s > windowS) start += 1;
    const seconds = sample.s - samples[start].s;
    return seconds > 0 ? Math.max(0, (figure(sample) - figure(samples[start])) / seconds) : null;
  });
}

const typesOf = (samples) => [...new Set(samples.flatMap((s) => Object.keys({ ...s.h, ...s.sd })))];
const typeName = (typeId) => charts.typeNames.get(typeId) || typeId;

// Each chart: its lines (label, and dash for a setting) and their values, one per sample.
const CHARTS = {
  arrivals: (samples) => [{ label: "fans joining a second", values: perSecond(samples, (s) => s.j) }],
  fans: (samples) => [
    { label: "waiting", values: samples.map((s) => s.w) },
    { label: "admitted so far", values: samples.map((s) => s.a) },
    { label: "shopping now", values: samples.map((s) => s.sh) },
  ],
  tickets: (samples) =>
    typesOf(samples).flatMap((typeId) => [
      { label: `${typeName(typeId)} held`, values: samples.map((s) => (s.h || {})[typeId] ?? 0), dash: [6, 4] },
      { label: `${typeName(typeId)} sold`, values: samples.map((s) => (s.sd || {})[typeId] ?? 0) },
    ]),
  refusals: (samples) => {
    const reasons = [...new Set(samples.flatMap((s) => Object.keys(s.rf || {})))].sort();
    if (reasons.length === 0) return [{ label: "refused joins", values: samples.map(() => 0) }];
    return reasons.map((reason) => ({
      label: REFUSAL_WORDS[reason] || reason,
      values: samples.map((s) => (s.rf || {})[reason] ?? 0),
    }));
  },
  rate: (samples) => [
    {
      label: "let in a minute",
      values: averaged(samples, (s) => s.a, RATE_WINDOW_S).map((v) => (v === null ? null : Math.round(v * 60))),
    },
    { label: "rate set", values: samples.map((s) => s.r), dash: [4, 4] },
  ],
};

/** Every sample the server keeps, on each (re)connect: the charts start again from them. */
export function showHistory(samples, typeNames) {
  charts.samples = samples.slice(-KEPT);
  charts.typeNames = typeNames;
  draw();
}

/** The samples pushed each second (none when the sale is not live). */
export function addSamples(samples, typeNames) {
  charts.typeNames = typeNames;
  if (samples.length === 0) return;
  const newest = charts.samples.length ? charts.samples[charts.samples.length - 1].s : 0;
  charts.samples.push(...samples.filter((s) => s.s > newest));
  if (charts.samples.length > KEPT) charts.samples.splice(0, charts.samples.length - KEPT);
  draw();
}

export function clearCharts() {
  for (const { plot } of charts.drawn.values()) plot.destroy();
  charts.drawn.clear();
  charts.samples = [];
  for (const box of document.querySelectorAll("[data-chart]")) box.dataset.points = "0";
  for (const line of document.querySelectorAll("[data-chart-now]")) line.textContent = "";
  $("sell-out").textContent = "—";
}

function draw() {
  const samples = charts.samples;
  const xs = samples.map((s) => s.s);
  for (const [name, build] of Object.entries(CHARTS)) {
    const box = document.querySelector(`[data-chart="${name}"]`);
    const lines = build(samples);
    const signature = lines.map((line) => line.label).join("|");
    const data = [xs, ...lines.map((line) => line.values)];
    let drawn = charts.drawn.get(name);
    if (!drawn || drawn.signature !== signature) {
      if (drawn) drawn.plot.destroy();
      drawn = { plot: new uPlot(options(box, lines), data, box), signature };
      charts.drawn.set(name, drawn);
    } else {
      drawn.plot.setData(data);
    }
    box.dataset.points = String(xs.length);
    document.querySelector(`[data-chart-now="${name}"]`).textContent = lines
      .map((line) => `${line.label}: ${figure(line.values[line.values.length - 1])}`)
      .join(" · ");
  }
  watchWidths();
  $("sell-out").textContent = sellOutWords(samples);
}

const figure = (value) =>
  value === null || value === undefined ? "—" : Number.isInteger(value) ? String(value) : value.toFixed(1);

function options(box, lines) {
  const css = getComputedStyle(document.documentElement);
  const ink = css.getPropertyValue("--muted").trim() || "#57606a";
  const rule = css.getPropertyValue("--border").trim() || "#d0d7de";
  const axis = { stroke: ink, grid: { stroke: rule, width: 1 }, ticks: { stroke: rule, width: 1 } };
  return {
    width: Math.max(200, box.clientWidth),
    height: HEIGHT,
    scales: { x: { time: true } },
    series: [
      { label: "time", value: (u, v) => (v === null ? "—" : new Date(v * 1_000).toLocaleTimeString()) },
      ...lines.map((line, i) => ({
        label: line.label,
        stroke: COLOURS[i % COLOURS.length],
        width: 2,
        dash: line.dash,
        spanGaps: true,
        value: (u, v) => figure(v),
      })),
    ],
    axes: [{ ...axis, incrs: TIME_STEPS_S }, { ...axis, size: 52 }],
  };
}

/** The charts follow their boxes' widths (a phone turned, a window resized). */
function watchWidths() {
  if (charts.observer) return;
  charts.observer = new ResizeObserver(() => {
    for (const [name, { plot }] of charts.drawn) {
      const width = document.querySelector(`[data-chart="${name}"]`).clientWidth;
      if (width > 0 && width !== plot.width) plot.setSize({ width, height: HEIGHT });
    }
  });
  charts.observer.observe($("charts"));
}

/** How long the sale took to sell out, or how long it may take at the pace of the last half minute. */
function sellOutWords(samples) {
  const last = samples[samples.length - 1];
  if (!last) return "—";
  if (last.so !== null && last.so !== undefined) {
    return `Sold out ${spanWords(last.so * 1_000 - last.d)} after the drop`;
  }
  if (last.st !== "queueing") return "Selling starts after the draw";
  let first = samples.length - 1;
  while (first > 0 && last.s - samples[first - 1].s <= PACE_WINDOW_S) first -= 1;
  const gone = (s) => sum(s.sd) + sum(s.h);
  const seconds = last.s - samples[first].s;
  const pace = seconds > 0 ? (gone(last) - gone(samples[first])) / seconds : 0;
  if (pace <= 0) return `${last.l} left; none went in the last ${PACE_WINDOW_S} s`;
  return `About ${spanWords((last.l / pace) * 1_000)} at this pace (${last.l} left)`;
}
