// The market-data WebSocket: a snapshot, then deltas whose `seq` must be previous + 1.
// A gap (or a closed socket) means the local book can no longer be trusted: resubscribe and
// start again from a fresh snapshot.

import { marketSocketUrl } from "./api.js";

const MAX_TRADES = 50;
const RETRY_MS = [250, 500, 1000, 2000, 4000];

/** The live book and trades of one symbol. `onChange(feed, message)` runs after every applied
 * message; `onStatus(text)` reports the connection in words. */
export class MarketFeed {
  constructor(symbol, { onChange, onStatus }) {
    this.symbol = symbol;
    this.onChange = onChange;
    this.onStatus = onStatus;
    this.bids = new Map();
    this.asks = new Map();
    this.trades = [];
    this.seq = null;
    this.socket = null;
    this.stopped = false;
    this.failures = 0;
    this.resubscriptions = 0;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.socket) this.socket.close(1000, "left");
  }

  connect() {
    this.seq = null;
    this.onStatus("connecting…");
    const socket = new WebSocket(marketSocketUrl(this.symbol));
    this.socket = socket;
    socket.addEventListener("message", (event) => this.receive(socket, JSON.parse(event.data)));
    socket.addEventListener("close", () => this.closed(socket));
  }

  closed(socket) {
    if (socket !== this.socket || this.stopped) return;
    const wait = RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)];
    this.failures += 1;
    this.onStatus("disconnected; reconnecting…");
    setTimeout(() => {
      if (!this.stopped && socket === this.socket) this.connect();
    }, wait);
  }

  /** Drop the socket and take a fresh snapshot (after a gap in `seq`). */
  resubscribe() {
    this.resubscriptions += 1;
    const old = this.socket;
    this.socket = null;
    if (old) old.close(1000, "gap");
    this.connect();
  }

  receive(socket, message) {
    if (socket !== this.socket) return;
    if (message.type === "snapshot") {
      this.bids = new Map(message.bids);
      this.asks = new Map(message.asks);
      this.trades = message.trades.slice(0, MAX_TRADES);
      this.seq = message.seq;
      this.failures = 0;
      this.onStatus("live");
    } else if (message.type === "update") {
      if (this.seq === null || message.seq <= this.seq) return;
      if (message.seq !== this.seq + 1) {
        this.onStatus(`missed updates ${this.seq + 1}–${message.seq - 1}; resubscribing`);
        this.resubscribe();
        return;
      }
      this.apply(message);
      this.seq = message.seq;
    } else {
      return;
    }
    this.onChange(this, message);
  }

  apply(update) {
    for (const level of update.book) {
      const side = level.side === "bid" ? this.bids : this.asks;
      if (level.quantity === 0) side.delete(level.price);
      else side.set(level.price, level.quantity);
    }
    if (update.trades.length > 0) {
      const known = new Set(this.trades.map((trade) => trade.trade_id));
      const fresh = update.trades.filter((trade) => !known.has(trade.trade_id));
      this.trades = [...fresh, ...this.trades]
        .sort((a, b) => b.trade_id - a.trade_id)
        .slice(0, MAX_TRADES);
    }
  }
}
