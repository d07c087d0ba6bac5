// The moderator console: live runs (GET /v1/runs), halt (POST /v1/runs/{id}/cancel with a
// reason every subscriber will see), watch (the run's stream replayed from its first event)
// and the runs paused for approval (GET /v1/moderation/approvals), decided for their owner
// with the thread's own POST /v1/threads/{id}/approvals.

import { apiFetch, getJson, httpError, mountKeyField } from "./api.js";
import { ApprovalCard } from "./approvals.js";
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

/** Clear the watch panel for `title`; returns its message box. */
function openPanel(title) {
  watching?.stream.close();
  watching = null;
  $("watch-id").textContent = title;
  $("watch-hint").hidden = true;
  const box = $("watch-message");
  box.replaceChildren();
  const log = $("watch-events");
  log.replaceChildren();
  log.hidden = false;
  return box;
}

/** A RunStream that shows its run in `box` and the event log. */
function follow(box, route) {
  const log = $("watch-events");
  // The TTFT shown is the run's own (from its request's arrival, as the gateway measured
  // it), not the time since Watch was pressed.
  const message = new AssistantMessage(box, { route, serverTimed: true, onFirstToken: showServerTtft });
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
      if (state === "failed") {
        message.notice("error", error.message);
        message.node.dataset.status = "failed";
      }
    },
  });
  return { stream, message };
}

/** Ask the gateway for the run's TTFT once its first token was seen. */
async function showServerTtft(message, attempt = 0) {
  try {
    const snapshot = await getJson(`/v1/runs/${encodeURIComponent(message.runId)}`);
    const ttft = snapshot.timings?.ttft_ms ?? null;
    if (ttft !== null) message.setServerTtft(ttft);
    else if (attempt < 3) setTimeout(() => showServerTtft(message, attempt + 1), 100);
  } catch {
    // The run ended and expired meanwhile: run.end's timings will say it.
  }
}

function watch(runId, route) {
  const box = openPanel(runId);
  const { stream } = follow(box, route);
  watching = { runId, stream };
  stream.watch(runId);
  refresh();
}

/** Decide a paused run's calls from the console: the resumed run streams into the panel. */
function review(run) {
  const box = openPanel(`${run.run_id} (thread ${run.thread_id})`);
  new ApprovalCard(box, run.approvals, async (decisions) => {
    const { stream, message } = follow(box, run.route);
    watching = { runId: null, stream };
    const path = `/v1/threads/${encodeURIComponent(run.thread_id)}/approvals`;
    await stream.post(path, { decisions });
    refresh();
    return message.node.dataset.status !== "failed";
  });
}

function approvalRow(run) {
  const calls = run.approvals.map((call) => `${call.name}(${JSON.stringify(call.args)})`).join("\n");
  return el(
    "tr",
    { "data-run-id": run.run_id, "data-thread-id": run.thread_id },
    el("td", { class: "mono", title: run.run_id, text: shortId(run.run_id) }),
    el("td", { text: run.route }),
    el("td", { class: "mono", text: run.thread_id }),
    el("td", {}, el("pre", { text: calls })),
    el("td", { class: "num", text: seconds(run.age_s) }),
    el("td", { text: run.key_alias ?? "—" }),
    el("td", {}, el("button", { type: "button", class: "small review", text: "Review", onclick: () => review(run) })),
  );
}

// Kept until the set of waiting runs changes, so a click never lands on a rebuilt row.
let approvalsShown = "";

function renderApprovals(runs) {
  const key = runs.map((run) => run.run_id).join(",");
  $("no-approvals").hidden = runs.length > 0;
  if (key === approvalsShown) return;
  approvalsShown = key;
  $("approvals").tBodies[0].replaceChildren(...runs.map(approvalRow));
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
    renderApprovals((await getJson("/v1/moderation/approvals?limit=100")).runs);
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
