// Checks the page can make before sending: prices on the instrument's tick, quantities on its
// lot, cash with the currency's decimals. The server checks everything again (and more).

import { isMultiple, isZero, parseDecimal } from "./decimal.js";

const WHOLE = /^\d+$/;

/** A price in words of what is wrong with it, or null when it fits the tick. */
export function priceProblem(text, instrument) {
  if (text.trim() === "") return "Enter a price.";
  const price = parseDecimal(text);
  if (!price) return `“${text}” is not a price: use digits and one decimal point, like 101.25.`;
  if (isZero(price)) return "The price must be above zero.";
  if (!isMultiple(price, parseDecimal(instrument.tick_size))) {
    return `${text.trim()} is not a multiple of the tick ${instrument.tick_size}.`;
  }
  return null;
}

/** A quantity in words of what is wrong with it, or null when it fits the lot. */
export function quantityProblem(text, instrument) {
  const trimmed = text.trim();
  if (trimmed === "") return "Enter a quantity.";
  if (!WHOLE.test(trimmed)) return `“${text}” is not a whole number of shares.`;
  const shares = Number.parseInt(trimmed, 10);
  if (shares <= 0) return "The quantity must be at least one lot.";
  if (!Number.isSafeInteger(shares)) return "The quantity is too large.";
  if (shares % instrument.lot_size !== 0) {
    return `${shares} is not a multiple of the lot size ${instrument.lot_size}.`;
  }
  return null;
}

/** The order body from the form's values, or {problems} (in words) when it cannot be sent. */
export function orderBody(values, instrument) {
  const problems = [];
  const body = {
    symbol: instrument.symbol,
    side: values.side,
    type: values.type,
    quantity: 0,
    time_in_force: values.tif,
  };
  const quantity = quantityProblem(values.quantity, instrument);
  if (quantity) problems.push(quantity);
  else body.quantity = Number.parseInt(values.quantity.trim(), 10);
  if (values.type === "limit") {
    const price = priceProblem(values.price, instrument);
    if (price) problems.push(price);
    else body.price = values.price.trim();
    if (values.postOnly) {
      if (values.tif === "IOC" || values.tif === "FOK") {
        problems.push("A post-only order must be able to rest: use GTC or DAY.");
      }
      body.post_only = true;
    }
  } else if (values.tif !== "IOC" && values.tif !== "FOK") {
    problems.push("A market order never rests: use IOC or FOK.");
  }
  return problems.length > 0 ? { problems } : { body };
}

/** A deposit amount for `asset` (cash: a decimal string with at most `digits` decimals;
 * shares: an integer), or {problem} in words. */
export function depositAmount(text, asset, currencies) {
  const trimmed = text.trim();
  if (asset in currencies) {
    const amount = parseDecimal(trimmed);
    if (!amount || isZero(amount)) return { problem: "Enter an amount above zero, like 1000.00." };
    if (amount.scale > currencies[asset]) {
      return { problem: `${asset} has ${currencies[asset]} decimals at most.` };
    }
    return { amount: trimmed };
  }
  if (!WHOLE.test(trimmed) || Number.parseInt(trimmed, 10) <= 0) {
    return { problem: "Shares are deposited in whole numbers above zero." };
  }
  return { amount: Number.parseInt(trimmed, 10) };
}
