// Tiny DOM helpers: elements are built with text nodes only (never innerHTML from data).

/** An element with attributes (`class`, `data-*`, aria-*, …) and children (strings or nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** The element with this id (throws if the page lacks it: a wiring mistake). */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from the page`);
  return node;
}

/** Show a message in an output element: `kind` is "ok", "error" or "info". */
export function say(target, text, kind = "info") {
  target.textContent = text;
  target.dataset.kind = kind;
}

/** "2026-12-02T07:45:10.352998Z" -> "07:45:10" (UTC, like the API). */
export function clock(iso) {
  return iso ? iso.slice(11, 19) : "";
}

/** Replace a table body's rows. */
export function fillBody(tbody, rows, emptyText, columns) {
  if (rows.length === 0) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: columns, class: "empty" }, emptyText)));
  } else {
    tbody.replaceChildren(...rows);
  }
}
