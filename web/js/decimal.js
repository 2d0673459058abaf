// Exact decimal arithmetic on strings with BigInt: prices and cash are never floats here.

const DECIMAL = /^\d+(\.\d+)?$/;

/** "101.25" -> {units: 10125n, scale: 2}; null if the text is not a plain positive-form decimal. */
export function parseDecimal(text) {
  const trimmed = String(text).trim();
  if (!DECIMAL.test(trimmed)) return null;
  const [whole, fraction = ""] = trimmed.split(".");
  return { units: BigInt(whole + fraction), scale: fraction.length };
}

function scaled(value, scale) {
  return value.units * 10n ** BigInt(scale - value.scale);
}

/** Whether `value` is an exact multiple of `step` (both parsed decimals). */
export function isMultiple(value, step) {
  const scale = Math.max(value.scale, step.scale);
  const unit = scaled(step, scale);
  return unit !== 0n && scaled(value, scale) % unit === 0n;
}

/** -1, 0 or 1, comparing two decimal strings exactly. */
export function compareDecimal(a, b) {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  const scale = Math.max(x.scale, y.scale);
  const left = scaled(x, scale);
  const right = scaled(y, scale);
  return left < right ? -1 : left > right ? 1 : 0;
}

/** The decimal string of `value` times the integer `count`, at the value's own scale. */
export function times(value, count) {
  const units = value.units * BigInt(count);
  return format(units, value.scale);
}

/** BigInt units at `scale` as a decimal string. */
export function format(units, scale) {
  const digits = units.toString().padStart(scale + 1, "0");
  return scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/** Whether the decimal is zero. */
export function isZero(value) {
  return value.units === 0n;
}
