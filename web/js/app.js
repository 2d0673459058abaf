// The trading page: wiring of sign-in, the market feed, the order ticket, balances and orders.

import { command, inWords, query } from "./api.js";
import { CURRENCIES, fillAssets, renderBalances } from "./account.js";
import { depositAmount, orderBody, priceProblem, quantityProblem } from "./checks.js";
import { byId, el, say } from "./dom.js";
import { MarketFeed } from "./feed.js";
import { refreshChart, renderMarket } from "./market.js";
import { renderOrders, showLifecycle } from "./orders.js";
import { parseDecimal, times } from "./decimal.js";

const POLL_MS = 2000;
const state = {
  key: null,
  instruments: new Map(),
  feed: null,
  amending: null,
  forcedTif: null,
  timers: {},
};

function debounce(name, ms, action) {
  clearTimeout(state.timers[name]);
  state.timers[name] = setTimeout(action, ms);
}

// ---- my account and orders: after my writes (min_position), on market activity, and polled

async function refreshMine(minPosition) {
  if (!state.key) return;
  try {
    const [account, orders] = await Promise.all([
      query("/v1/account", { key: state.key, minPosition }),
      query("/v1/orders?limit=100", { key: state.key, minPosition }),
    ]);
    renderBalances(account);
    renderOrders(orders, orderActions);
    byId("mine-status").textContent = `Up to date with position ${account.position}.`;
  } catch (error) {
    byId("mine-status").textContent = inWords(error);
  }
}

function afterWrite(answer) {
  return refreshMine(answer.position);
}

// ---- signing in and out

async function signIn(key, name, minPosition) {
  const account = await query("/v1/account", { key, minPosition });
  state.key = key;
  sessionStorage.setItem("exchange.key", key);
  sessionStorage.setItem("exchange.name", name || `user ${account.user_id}`);
  byId("who-name").textContent = sessionStorage.getItem("exchange.name");
  byId("who").hidden = false;
  byId("sign-in").hidden = true;
  byId("trading").hidden = false;
  renderBalances(account);
  await loadInstruments();
  await refreshMine();
  state.timers.poll = setInterval(() => {
    if (document.visibilityState === "visible") refreshMine();
  }, POLL_MS);
  byId("symbol").focus();
}

function signOut() {
  sessionStorage.clear();
  location.reload();
}

async function offerDemo() {
  try {
    const offer = await command("/v1/demo");
    const deposits = Object.entries(offer.deposits).map(([asset, amount]) => `${amount} ${asset}`);
    byId("demo-offer").textContent = `it starts with ${deposits.join(" and ")}.`;
    byId("demo").hidden = false;
  } catch {
    byId("demo").hidden = true; // (not a dev or test stack: no demo users)
  }
}

async function createDemoUser() {
  const message = byId("sign-in-message");
  say(message, "Creating a demo user…");
  try {
    const created = await command("/v1/demo/users", { method: "POST", body: {} });
    await signIn(created.api_key, created.username, created.position);
    say(byId("order-message"), `Welcome, ${created.username}. Your API key: ${created.api_key}`, "ok");
  } catch (error) {
    say(message, inWords(error), "error");
  }
}

// ---- the market

async function loadInstruments() {
  const instruments = await query("/v1/instruments");
  state.instruments = new Map(instruments.map((i) => [i.symbol, i]));
  const select = byId("symbol");
  const wanted = decodeURIComponent(location.hash.slice(1)) || select.value || "DEMO";
  select.replaceChildren(
    ...instruments.map((i) => el("option", { value: i.symbol, selected: i.symbol === wanted }, i.symbol)),
  );
  fillAssets(instruments);
  if (instruments.length > 0) selectSymbol(select.value);
}

function selectSymbol(symbol) {
  const instrument = state.instruments.get(symbol);
  if (!instrument) return;
  if (state.feed) state.feed.stop();
  history.replaceState(null, "", `#${encodeURIComponent(symbol)}`);
  byId("instrument-info").textContent =
    `tick ${instrument.tick_size} ${instrument.currency}, lot ${instrument.lot_size} shares`;
  byId("ticket-title").textContent = `Place an order on ${symbol}`;
  state.feed = new MarketFeed(symbol, {
    onChange: (feed, message) => {
      renderMarket(feed, pickPrice);
      if (message.type === "update") {
        debounce("mine", 300, () => refreshMine());
        if (message.trades.length > 0) debounce("chart", 500, () => chart(symbol));
      }
    },
    onStatus: (text) => {
      byId("feed-status").textContent = `Market data: ${text}`;
    },
  });
  state.feed.start();
  chart(symbol);
  updateEstimate();
}

function chart(symbol) {
  refreshChart(symbol).catch((error) => {
    byId("chart-summary").textContent = inWords(error);
  });
}

function pickPrice(price) {
  byId("order-type").value = "limit";
  byId("order-price").value = price;
  syncTicket();
  byId("order-price").focus();
}

// ---- the order ticket

function ticketValues() {
  return {
    side: byId("order-form").elements.side.value,
    type: byId("order-type").value,
    price: byId("order-price").value,
    quantity: byId("order-quantity").value,
    tif: byId("order-tif").value,
    postOnly: byId("order-post-only").checked,
  };
}

function syncTicket() {
  const market = byId("order-type").value === "market";
  byId("order-price").disabled = market;
  byId("order-post-only").disabled = market;
  const tif = byId("order-tif");
  for (const option of tif.options) option.disabled = market && !["IOC", "FOK"].includes(option.value);
  if (market && !["IOC", "FOK"].includes(tif.value)) {
    state.forcedTif = tif.value; // (given back when the order is a limit order again)
    tif.value = "IOC";
  } else if (!market && state.forcedTif) {
    tif.value = state.forcedTif;
    state.forcedTif = null;
  }
  updateEstimate();
}

function updateEstimate() {
  const instrument = state.instruments.get(byId("symbol").value);
  const values = ticketValues();
  const out = byId("order-estimate");
  if (!instrument || values.type !== "limit") {
    out.textContent = values.type === "market" ? "A market order trades at the best prices now." : "";
    return;
  }
  const price = priceProblem(values.price, instrument) ? null : parseDecimal(values.price);
  const quantity = quantityProblem(values.quantity, instrument) ? null : values.quantity.trim();
  out.textContent =
    price && quantity ? `Notional ${times(price, quantity)} ${instrument.currency}.` : "";
}

async function placeOrder(event) {
  event.preventDefault();
  const message = byId("order-message");
  const instrument = state.instruments.get(byId("symbol").value);
  if (!instrument) return say(message, "Choose a symbol first.", "error");
  const checked = orderBody(ticketValues(), instrument);
  if (checked.problems) return say(message, `Not sent: ${checked.problems.join(" ")}`, "error");
  say(message, "Sending…");
  try {
    const placed = await command("/v1/orders", { method: "POST", key: state.key, body: checked.body });
    const { side, quantity, symbol, price } = checked.body;
    say(message, `Order ${placed.order_id} accepted: ${side} ${quantity} ${symbol} ${price ? `at ${price}` : "at market"}.`, "ok");
    await afterWrite(placed);
  } catch (error) {
    say(message, inWords(error), "error");
  }
}

// ---- funding

async function deposit(event) {
  event.preventDefault();
  const message = byId("deposit-message");
  const asset = byId("deposit-asset").value;
  const checked = depositAmount(byId("deposit-amount").value, asset, CURRENCIES);
  if (checked.problem) return say(message, `Not sent: ${checked.problem}`, "error");
  try {
    const done = await command("/v1/deposits", {
      method: "POST",
      key: state.key,
      body: { asset, amount: checked.amount },
    });
    say(message, `Deposited ${done.amount} ${asset}.`, "ok");
    byId("deposit-amount").value = "";
    await afterWrite(done);
  } catch (error) {
    say(message, inWords(error), "error");
  }
}

// ---- cancel, amend, lifecycle

const orderActions = {
  async cancel(order) {
    const message = byId("orders-message");
    try {
      const answer = await command(`/v1/orders/${order.order_id}`, { method: "DELETE", key: state.key });
      say(message, `Cancel of order ${order.order_id} requested.`, "ok");
      await afterWrite(answer);
    } catch (error) {
      say(message, inWords(error), "error");
    }
  },
  amend(order) {
    state.amending = order;
    byId("amend-title").textContent = `Amend order ${order.order_id} (${order.side} ${order.symbol})`;
    byId("amend-quantity").value = String(order.quantity);
    byId("amend-price").value = order.price ?? "";
    byId("amend-price").disabled = order.type !== "limit";
    say(byId("amend-message"), `Filled so far: ${order.filled_quantity}.`);
    byId("amend-dialog").showModal();
  },
  async events(order) {
    try {
      await showLifecycle(order, state.key);
    } catch (error) {
      say(byId("orders-message"), inWords(error), "error");
    }
  },
};

async function sendAmend(event) {
  event.preventDefault();
  const order = state.amending;
  const instrument = state.instruments.get(order.symbol);
  const message = byId("amend-message");
  const body = {};
  const quantity = byId("amend-quantity").value.trim();
  const price = byId("amend-price").value.trim();
  if (quantity !== String(order.quantity)) {
    const problem = quantityProblem(quantity, instrument);
    if (problem) return say(message, `Not sent: ${problem}`, "error");
    body.quantity = Number.parseInt(quantity, 10);
  }
  if (order.type === "limit" && price !== order.price) {
    const problem = priceProblem(price, instrument);
    if (problem) return say(message, `Not sent: ${problem}`, "error");
    body.price = price;
  }
  if (Object.keys(body).length === 0) return say(message, "Nothing changed.", "error");
  try {
    const answer = await command(`/v1/orders/${order.order_id}`, { method: "PATCH", key: state.key, body });
    byId("amend-dialog").close();
    say(byId("orders-message"), `Amend of order ${order.order_id} requested.`, "ok");
    await afterWrite(answer);
  } catch (error) {
    say(message, inWords(error), "error");
  }
}

// ---- start

function wire() {
  byId("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = byId("api-key").value.trim();
    try {
      await signIn(key);
    } catch (error) {
      say(byId("sign-in-message"), inWords(error), "error");
    }
  });
  byId("demo-create").addEventListener("click", createDemoUser);
  byId("sign-out").addEventListener("click", signOut);
  byId("symbol").addEventListener("change", (event) => selectSymbol(event.target.value));
  byId("order-form").addEventListener("submit", placeOrder);
  byId("order-form").addEventListener("input", updateEstimate);
  byId("order-type").addEventListener("change", syncTicket);
  byId("deposit-form").addEventListener("submit", deposit);
  byId("amend-form").addEventListener("submit", sendAmend);
  byId("amend-close").addEventListener("click", () => byId("amend-dialog").close());
  byId("lifecycle-close").addEventListener("click", () => {
    byId("lifecycle").hidden = true;
  });
}

wire();
syncTicket();
const saved = sessionStorage.getItem("exchange.key");
offerDemo();
if (saved) {
  signIn(saved, sessionStorage.getItem("exchange.name")).catch((error) => {
    sessionStorage.clear();
    say(byId("sign-in-message"), `Sign in again: ${inWords(error)}`, "error");
  });
}
