// Balances (total / available / held) and the deposit form.

import { byId, el, fillBody } from "./dom.js";

export const CURRENCIES = { USD: 2, EUR: 2, GBP: 2, CHF: 2, JPY: 0 };

/** Render the account's balances, cash first. */
export function renderBalances(account) {
  const assets = Object.keys(account.balances).sort((a, b) => {
    const cash = (asset) => (asset in CURRENCIES ? 0 : 1);
    return cash(a) - cash(b) || a.localeCompare(b);
  });
  const rows = assets.map((asset) => {
    const balance = account.balances[asset];
    return el(
      "tr",
      { "data-asset": asset },
      el("th", { scope: "row" }, asset),
      el("td", { class: "num total" }, String(balance.total)),
      el("td", { class: "num available" }, String(balance.available)),
      el("td", { class: "num held" }, String(balance.held)),
    );
  });
  fillBody(byId("balances").tBodies[0], rows, "Nothing yet: deposit below.", 4);
}

/** Offer every currency and listed symbol in the deposit form (keeping the choice). */
export function fillAssets(instruments) {
  const select = byId("deposit-asset");
  const chosen = select.value || "USD";
  const options = [...Object.keys(CURRENCIES), ...instruments.map((i) => i.symbol)].map(
    (asset) => el("option", { value: asset, selected: asset === chosen }, asset),
  );
  select.replaceChildren(...options);
}
