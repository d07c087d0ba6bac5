// Numbers as people read them; "—" where a value is unknown.

export const DASH = "—";

export function ms(value) {
  if (value === null || value === undefined) return DASH;
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

export function seconds(value) {
  if (value === null || value === undefined) return DASH;
  return value >= 60 ? `${Math.floor(value / 60)}m ${Math.round(value % 60)}s` : `${value.toFixed(1)} s`;
}

export function rate(value) {
  return value === null || value === undefined ? DASH : `${value.toFixed(1)}`;
}

export function usd(value) {
  if (value === null || value === undefined) return "unpriced";
  if (value === 0) return "$0";
  return value < 0.01 ? `$${value.toFixed(6)}` : `$${value.toFixed(4)}`;
}

export function percent(value) {
  return value === null || value === undefined ? DASH : `${(value * 100).toFixed(1)}%`;
}

/** Build an element: el("li", {class: "x", text: "y"}, child, …). Text is never parsed as HTML. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export function shortId(id) {
  return id ? id.slice(0, 8) : DASH;
}

/** A link only for http(s) URLs; anything else is shown as text. */
export function safeLink(url, label) {
  return /^https?:\/\//i.test(url || "")
    ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow", text: label })
    : el("span", { text: label });
}
