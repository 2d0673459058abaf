// The market panel: the book (best first), recent trades and the candle chart of a symbol.

import { query } from "./api.js";
import { drawCandles } from "./chart.js";
import { compareDecimal } from "./decimal.js";
import { byId, clock, el, fillBody } from "./dom.js";

const DEPTH = 10;
const SHOWN_TRADES = 15;

function levels(side, descending) {
  const sorted = [...side.entries()].sort((a, b) => compareDecimal(a[0], b[0]));
  if (descending) sorted.reverse();
  return sorted.slice(0, DEPTH);
}

function levelRow(side, [price, quantity], onPick) {
  const pick = el(
    "button",
    { type: "button", class: "link", "aria-label": `Use price ${price}` },
    price,
  );
  pick.addEventListener("click", () => onPick(price));
  return el(
    "tr",
    { "data-price": price, class: side },
    el("td", { class: "num" }, pick),
    el("td", { class: "num qty" }, String(quantity)),
  );
}

/** Render the feed's book and trades; `onPick(price)` when a price is chosen from the book. */
export function renderMarket(feed, onPick) {
  const bids = levels(feed.bids, true).map((level) => levelRow("bid", level, onPick));
  const asks = levels(feed.asks, false).map((level) => levelRow("ask", level, onPick));
  fillBody(byId("bids").tBodies[0], bids, "No bids", 2);
  fillBody(byId("asks").tBodies[0], asks, "No asks", 2);
  const trades = feed.trades.slice(0, SHOWN_TRADES).map((trade) =>
    el(
      "tr",
      { "data-trade-id": trade.trade_id, class: trade.taker_side === "buy" ? "bid" : "ask" },
      el("td", {}, clock(trade.executed_at)),
      el("td", { class: "num" }, trade.price),
      el("td", { class: "num" }, String(trade.quantity)),
      el("td", {}, trade.taker_side === "buy" ? "buyer took" : "seller took"),
    ),
  );
  fillBody(byId("trades").tBodies[0], trades, "No trades yet", 4);
}

/** Fetch the symbol's one-minute candles and draw them. */
export async function refreshChart(symbol) {
  const candles = await query(`/v1/candles/${encodeURIComponent(symbol)}?interval=1m&limit=60`);
  drawCandles(byId("chart-svg"), byId("chart-summary"), candles);
}
