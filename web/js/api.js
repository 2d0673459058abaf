// HTTP to both APIs through nginx; errors become ApiError carrying the server's problem+json.

const COMMAND = "/api/command";
const QUERY = "/api/query";

const IN_WORDS = {
  INSUFFICIENT_FUNDS: "Not enough cash available",
  INSUFFICIENT_HOLDINGS: "Not enough shares available",
  INVALID_PRICE: "The exchange refused the price",
  INVALID_QUANTITY: "The exchange refused the quantity",
  INVALID_AMOUNT: "The exchange refused the amount",
  INVALID_ORDER: "The exchange refused the order",
  INVALID_TIME_IN_FORCE: "That time in force does not fit this order",
  UNKNOWN_SYMBOL: "That symbol is not listed",
  UNKNOWN_ASSET: "That asset is neither a currency nor a listed symbol",
  OPPOSITE_SIDE_ORDER_OPEN: "You have an order open on the other side (self-trade prevention)",
  ORDER_NOT_OPEN: "That order is no longer open",
  NOT_FOUND: "Not found",
  UNAUTHORIZED: "The API key is not known",
  FORBIDDEN: "That key may not do this",
  USERNAME_TAKEN: "That username is taken",
  VALIDATION_ERROR: "The request was not understood",
  TOO_MANY_REQUESTS: "Too many requests; wait a moment",
  PAYLOAD_TOO_LARGE: "The request is too large",
  PROJECTION_BEHIND: "The read side is still catching up",
  SERVICE_UNAVAILABLE: "The exchange is busy or partly down; try again shortly",
};

/** A refused request: `status`, and the problem+json body (`code`, `detail`, …) if there is one. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }

  get code() {
    return this.problem?.code || `HTTP_${this.status}`;
  }

  /** The refusal in words: a plain lead, the server's detail and its stable code. */
  get words() {
    if (!this.problem) return `The exchange did not answer properly (HTTP ${this.status}).`;
    const lead = IN_WORDS[this.problem.code] || this.problem.title || "Refused";
    return `${lead}: ${this.problem.detail} (${this.problem.code})`;
  }
}

/** Words for any failure of a call (network errors included). */
export function inWords(error) {
  if (error instanceof ApiError) return error.words;
  return `The exchange could not be reached (${error.message}).`;
}

async function call(base, path, { method = "GET", key, body } = {}) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const type = resp.headers.get("content-type") || "";
  const data = type.includes("json") ? await resp.json() : null;
  if (!resp.ok) throw new ApiError(resp.status, data && data.code ? data : null);
  return data;
}

/** A write to the command API; resolves to its JSON answer (with `position`). */
export function command(path, options) {
  return call(COMMAND, path, options);
}

/** A read of the query API; `minPosition` waits until the projection has reached it
 * (read-your-writes), retrying a few times while the server answers PROJECTION_BEHIND. */
export async function query(path, { key, minPosition } = {}) {
  let url = path;
  if (minPosition) url += `${path.includes("?") ? "&" : "?"}min_position=${minPosition}`;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await call(QUERY, url, { key });
    } catch (error) {
      const behind = error instanceof ApiError && error.code === "PROJECTION_BEHIND";
      if (!behind || attempt >= 3) throw error;
    }
  }
}

/** The market-data WebSocket URL of a symbol, on this page's own origin. */
export function marketSocketUrl(symbol) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${QUERY}/v1/ws/market/${encodeURIComponent(symbol)}`;
}
