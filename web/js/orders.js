// My orders: open ones (cancel, amend) and past ones, and an order's lifecycle.

import { query } from "./api.js";
import { byId, clock, el, fillBody } from "./dom.js";

const OPEN = new Set(["accepted", "partially_filled"]);

function actionButton(label, name, orderId, handler) {
  const button = el(
    "button",
    { type: "button", "data-action": name, "aria-label": `${label} order ${orderId}` },
    label,
  );
  button.addEventListener("click", handler);
  return button;
}

function orderRow(order, actions) {
  const open = OPEN.has(order.status);
  const buttons = [actionButton("Events", "events", order.order_id, () => actions.events(order))];
  if (open) {
    buttons.unshift(
      actionButton("Cancel", "cancel", order.order_id, () => actions.cancel(order)),
      actionButton("Amend", "amend", order.order_id, () => actions.amend(order)),
    );
  }
  const status = order.reason ? `${order.status} (${order.reason})` : order.status;
  return el(
    "tr",
    { "data-order-id": order.order_id, "data-status": order.status },
    el("td", {}, clock(order.created_at)),
    el("td", {}, order.symbol),
    el("td", { class: order.side === "buy" ? "bid" : "ask" }, order.side),
    el("td", {}, `${order.type} ${order.time_in_force}`),
    el("td", { class: "num" }, order.price ?? "market"),
    el("td", { class: "num" }, String(order.quantity)),
    el("td", { class: "num filled" }, String(order.filled_quantity)),
    el("td", { class: "num" }, order.avg_fill_price ?? ""),
    el("td", { class: "status" }, status),
    el("td", { class: "actions" }, ...buttons),
  );
}

/** Render the user's orders (newest first) into the open and past tables. */
export function renderOrders(orders, actions) {
  const open = orders.filter((order) => OPEN.has(order.status));
  const past = orders.filter((order) => !OPEN.has(order.status));
  fillBody(byId("open-orders").tBodies[0], open.map((o) => orderRow(o, actions)), "None", 10);
  fillBody(byId("past-orders").tBodies[0], past.map((o) => orderRow(o, actions)), "None", 10);
}

const FIELDS = [
  ["side", (v) => v],
  ["order_type", (v) => v],
  ["price", (v) => `at ${v}`],
  ["quantity", (v) => `quantity ${v}`],
  ["new_quantity", (v) => `new quantity ${v}`],
  ["new_price", (v) => `new price ${v}`],
  ["trade_id", (v) => `trade ${v}`],
  ["remaining", (v) => `remaining ${v}`],
  ["liquidity", (v) => v],
  ["reason", (v) => `reason: ${v}`],
  ["time_in_force", (v) => v],
];

function describe(data) {
  const parts = [];
  for (const [name, words] of FIELDS) {
    if (data[name] !== undefined && data[name] !== null) parts.push(words(data[name]));
  }
  return parts.join(", ");
}

/** Show an order's lifecycle (its events, oldest first) and move focus to it. */
export async function showLifecycle(order, key) {
  const events = await query(`/v1/orders/${order.order_id}/events`, { key });
  const panel = byId("lifecycle");
  byId("lifecycle-title").textContent =
    `Lifecycle of order ${order.order_id} (${order.side} ${order.symbol})`;
  byId("lifecycle-events").replaceChildren(
    ...events.map((event) =>
      el(
        "li",
        { "data-type": event.type },
        el("strong", {}, event.type),
        ` at ${clock(event.at)} (position ${event.position})`,
        el("br"),
        describe(event.data),
      ),
    ),
  );
  panel.hidden = false;
  byId("lifecycle-title").focus();
}
