// Talking to the gateway: every request carries the API key from the header field (kept in
// sessionStorage, so it is gone when the tab closes) as `Authorization: Bearer <key>`.

const KEY_STORAGE = "tokenwire.apiKey";

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

export function authHeaders(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : { ...extra };
}

/** An error response before streaming: a problem+json body, or whatever came back. */
export class HttpError extends Error {
  constructor(status, title, detail) {
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = detail;
  }

  /** Worth trying again later (overload), as opposed to a request that is simply wrong. */
  get retryable() {
    return this.status === 429 || this.status >= 502;
  }
}

export async function httpError(response) {
  let title = `HTTP ${response.status}`;
  let detail = "";
  try {
    const body = await response.json();
    title = body.title || title;
    detail = body.detail || "";
  } catch {
    // not JSON: the status line says enough
  }
  if (response.status === 401 || response.status === 403) {
    detail = `${detail} — enter an API key with access in the header field`.replace(/^ — /, "");
  }
  return new HttpError(response.status, title, detail);
}

export async function apiFetch(path, { method = "GET", body, headers = {}, signal } = {}) {
  const init = { method, headers: authHeaders(headers), signal };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  return fetch(path, init);
}

export async function getJson(path) {
  const response = await apiFetch(path);
  if (!response.ok) throw await httpError(response);
  return response.json();
}

/** Wire the API-key field that every page has in its header. */
export function mountKeyField(input) {
  input.value = apiKey();
  input.addEventListener("change", () => setApiKey(input.value.trim()));
}

export function newIdempotencyKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  // randomUUID needs a secure context; getRandomValues does not.
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}
