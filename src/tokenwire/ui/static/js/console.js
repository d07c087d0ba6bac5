// The moderator console: live runs (GET /v1/runs), halt (POST /v1/runs/{id}/cancel with a
// reason every subscriber will see) and watch (the run's stream replayed from its first event).

import { apiFetch, getJson, httpError, mountKeyField } from "./api.js";
import { el, seconds, shortId } from "./format.js";
import { AssistantMessage } from "./message.js";
import { RunStream } from "./runstream.js";

const REFRESH_MS = 1000;
const MAX_EVENT_LINES = 300;

const $ = (id) => document.getElementById(id);
let watching = null; // {runId, stream}

async function halt(runId, button) {
  button.disabled = true;
  const reason = $("reason").value.trim() || "halted by a moderator";
  try {
    const response = await apiFetch(`/v1/runs/${runId}/cancel`, { method: "POST", body: { reason } });
    if (!response.ok) throw await httpError(response);
    const run = await response.json();
    button.textContent = run.status;
  } catch (error) {
    button.disabled = false;
    $("refreshed").textContent = `halt failed: ${error.message}`;
  }
  refresh();
}

function watch(runId, route) {
  watching?.stream.close();
  $("watch-id").textContent = runId;
  $("watch-hint").hidden = true;
  const box = $("watch-message");
  box.replaceChildren();
  const log = $("watch-events");
  log.replaceChildren();
  log.hidden = false;
  const message = new AssistantMessage(box, { route });
  const stream = new RunStream({
    onEvent: (event) => {
      message.apply(event);
      const data = event.type === "token" ? JSON.stringify(event.data.text) : JSON.stringify(event.data);
      log.append(el("div", { text: `${event.seq} ${event.type} ${data}` }));
      while (log.childElementCount > MAX_EVENT_LINES) log.firstElementChild.remove();
      log.scrollTop = log.scrollHeight;
    },
    onState: ({ state, error }) => {
      if (state !== "ended") message.setState(state === "streaming" ? "streaming…" : state);
      if (state === "failed") message.notice("error", error.message);
    },
  });
  watching = { runId, stream };
  stream.watch(runId);
  refresh();
}

// Rows are kept per run and updated in place: rebuilding the table every second would
// swallow a click that lands mid-refresh and make the buttons flicker.
const rows = new Map(); // run id → {tr, cells, haltButton}

function newRow(run) {
  const haltButton = el("button", { type: "button", class: "small danger halt", text: "Halt" });
  haltButton.addEventListener("click", () => halt(run.run_id, haltButton));
  const watchButton = el("button", {
    type: "button",
    class: "small ghost watch",
    text: "Watch",
    onclick: () => watch(run.run_id, run.route),
  });
  const cells = {
    status: el("td"),
    age: el("td", { class: "num" }),
    tokens: el("td", { class: "num tokens" }),
    subscribers: el("td", { class: "num" }),
  };
  const tr = el(
    "tr",
    { "data-run-id": run.run_id },
    el("td", { class: "mono", title: run.run_id, text: shortId(run.run_id) }),
    el("td", { text: run.route }),
    cells.status,
    cells.age,
    cells.tokens,
    cells.subscribers,
    el("td", { text: run.key_alias ?? "—" }),
    el("td", {}, el("div", { class: "actions" }, watchButton, haltButton)),
  );
  return { tr, cells, haltButton };
}

function updateRow(entry, run) {
  entry.cells.status.textContent = run.status;
  entry.cells.age.textContent = seconds(run.age_s);
  entry.cells.tokens.textContent = String(run.tokens);
  entry.cells.subscribers.textContent = String(run.subscribers);
  if (run.status !== "running") entry.haltButton.disabled = true;
  entry.tr.dataset.watched = String(watching?.runId === run.run_id);
}

function render(runs) {
  const body = $("runs").tBodies[0];
  const seen = new Set();
  runs.forEach((run, index) => {
    seen.add(run.run_id);
    let entry = rows.get(run.run_id);
    if (!entry) {
      entry = newRow(run);
      rows.set(run.run_id, entry);
    }
    updateRow(entry, run);
    if (body.children[index] !== entry.tr) body.insertBefore(entry.tr, body.children[index] ?? null);
  });
  for (const [runId, entry] of rows) {
    if (!seen.has(runId)) {
      entry.tr.remove();
      rows.delete(runId);
    }
  }
  $("no-runs").hidden = runs.length > 0;
}

let refreshing = false;

async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    const status = $("show-ended").checked ? "all" : "running";
    const body = await getJson(`/v1/runs?status=${status}&limit=100`);
    render(body.runs);
    $("refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
    $("refreshed").dataset.state = "live";
  } catch (error) {
    $("refreshed").textContent = error.message;
    $("refreshed").dataset.state = "reconnecting";
  } finally {
    refreshing = false;
  }
}

mountKeyField($("api-key"));
$("show-ended").addEventListener("change", refresh);
refresh();
setInterval(refresh, REFRESH_MS);
