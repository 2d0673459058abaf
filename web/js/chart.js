// A hand-drawn SVG candle chart. Coordinates are floats; they only place pixels (the prices
// shown as text stay the API's decimal strings).

import { compareDecimal } from "./decimal.js";

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 200;
const PAD = 8;
const AXIS = 56;

function svg(tag, attrs) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

function bounds(candles) {
  let low = candles[0].low;
  let high = candles[0].high;
  for (const candle of candles) {
    if (compareDecimal(candle.low, low) < 0) low = candle.low;
    if (compareDecimal(candle.high, high) > 0) high = candle.high;
  }
  return { low, high };
}

/** Draw `candles` (oldest first) into `target` and describe them in `summary`. */
export function drawCandles(target, summary, candles) {
  target.replaceChildren();
  target.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  if (candles.length === 0) {
    summary.textContent = "No trades yet, so no candles.";
    return;
  }
  const { low, high } = bounds(candles);
  const lo = Number(low);
  const span = Number(high) - lo || 1;
  const y = (price) => PAD + (HEIGHT - 2 * PAD) * (1 - (Number(price) - lo) / span);
  const slot = (WIDTH - AXIS) / Math.max(candles.length, 20);
  candles.forEach((candle, i) => {
    const x = AXIS + i * slot + slot / 2;
    const rising = compareDecimal(candle.close, candle.open) >= 0;
    const kind = rising ? "up" : "down";
    target.append(
      svg("line", { x1: x, x2: x, y1: y(candle.high), y2: y(candle.low), class: `wick ${kind}` }),
    );
    const top = y(rising ? candle.close : candle.open);
    const bottom = y(rising ? candle.open : candle.close);
    target.append(
      svg("rect", {
        x: x - slot * 0.35,
        y: top,
        width: slot * 0.7,
        height: Math.max(bottom - top, 1),
        class: `body ${kind}`,
      }),
    );
  });
  for (const [price, at] of [
    [high, y(high)],
    [low, y(low)],
  ]) {
    const label = svg("text", { x: 4, y: at + 4, class: "axis" });
    label.textContent = price;
    target.append(label);
  }
  const last = candles[candles.length - 1];
  summary.textContent =
    `${candles.length} one-minute candle${candles.length === 1 ? "" : "s"}: ` +
    `low ${low}, high ${high}, last close ${last.close}.`;
}
