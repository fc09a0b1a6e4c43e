// The fairness report's chart: queue number against arrival time, one box per
// tenth of the arrivals (static/fairness.js hands it the report's deciles).
// Plain SVG built here: no library, no inline style (the page's CSP), every
// colour from css/fairness.css.

const SVG = "http://www.w3.org/2000/svg";
// The chart is drawn at the width it is shown (one unit a CSS pixel, so the
// labels keep their size on a phone), within these bounds.
const MIN_WIDTH = 300;
const MAX_WIDTH = 640;
const HEIGHT = 300;
const MARGIN = { left: 64, right: 12, top: 16, bottom: 48 };
// Narrower than this, every other decile's time is labelled.
const LABEL_ROOM = 44;

function svgEl(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/** Seconds after the window opened, as a short label ("0.4 s", "12 s", "2 min"). */
export function secondsLabel(seconds) {
  if (seconds < 10) return `${Math.max(0, seconds).toFixed(1)} s`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  return `${Math.round(seconds / 60)} min`;
}

function ticks(last) {
  // 1 (the front), the middle and the last number; fewer when they would collide.
  const marks = [1, Math.round((last + 1) / 2), last];
  return [...new Set(marks)];
}

/**
 * Draws the decile boxes into ``svg``. ``deciles``: the report's boxes;
 * ``last``: the highest drawn number; ``opensAtMs``: the window's opening.
 * Number 1 (the front of the queue) is at the top.
 */
export function drawArrivalChart(svg, deciles, last, opensAtMs) {
  const desc = svg.querySelector("desc");
  svg.replaceChildren(...(desc ? [desc] : []));
  const width = Math.round(Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, svg.clientWidth || MAX_WIDTH)));
  svg.setAttribute("viewBox", `0 0 ${width} ${HEIGHT}`);
  const left = MARGIN.left;
  const right = width - MARGIN.right;
  const bottom = HEIGHT - MARGIN.bottom;
  const plotH = bottom - MARGIN.top;
  const span = Math.max(1, last - 1);
  const y = (number) => MARGIN.top + ((number - 1) / span) * plotH;
  const band = (right - left) / Math.max(1, deciles.length);
  const labelEvery = band < LABEL_ROOM ? 2 : 1;
  const across = (cls, at) => svgEl("line", { class: cls, x1: left, x2: right, y1: at, y2: at });
  const label = (cls, x, at, text, more = {}) =>
    svgEl("text", { class: cls, x, y: at, "text-anchor": "middle", ...more }, text);
  const seconds = (ms) => secondsLabel((ms - opensAtMs) / 1000);

  const area = { class: "plot-area", x: left, y: MARGIN.top, width: right - left, height: plotH };
  svg.append(svgEl("rect", area));
  for (const number of ticks(last)) {
    svg.append(
      across("grid", y(number)),
      label("tick", left - 6, y(number) + 4, `#${number}`, { "text-anchor": "end" }),
    );
  }
  svg.append(across("fair-middle", y((last + 1) / 2)));
  const mid = MARGIN.top + plotH / 2;
  svg.append(
    label("axis", 14, mid, "Queue number (1 = front)", { transform: `rotate(-90 14 ${mid})` }),
    label("axis", (left + right) / 2, HEIGHT - 6, "Arrival (time after the window opened)"),
  );

  deciles.forEach((box, i) => {
    const cx = left + band * (i + 0.5);
    const half = Math.min(24, band * 0.3);
    const when = `${seconds(box.arrived_from_ms)}–${seconds(box.arrived_to_ms)}`;
    const group = svgEl("g", { class: "decile", "data-median": box.median });
    group.append(
      svgEl("title", {}, `Arrived ${when} after opening: ${box.count} fans, ` +
        `numbers ${box.low}–${box.high}, middle ${box.median}`),
      svgEl("line", { class: "whisker", x1: cx, x2: cx, y1: y(box.low), y2: y(box.high) }),
      svgEl("rect", {
        class: "box",
        x: cx - half,
        width: 2 * half,
        y: y(box.q1),
        height: Math.max(1, y(box.q3) - y(box.q1)),
      }),
      svgEl("line", {
        class: "median", x1: cx - half, x2: cx + half, y1: y(box.median), y2: y(box.median),
      }),
    );
    if (i % labelEvery === 0) {
      group.append(label("tick", cx, bottom + 16, seconds(box.arrived_from_ms)));
    }
    svg.append(group);
  });
}
