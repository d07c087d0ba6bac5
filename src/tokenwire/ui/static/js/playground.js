// The chat playground: pick a route, send a message, watch the answer stream.

import { apiFetch, getJson, httpError, mountKeyField, newIdempotencyKey } from "./api.js";
import { el } from "./format.js";
import { AssistantMessage } from "./message.js";
import { RunStream } from "./runstream.js";

// Prompts that show off the demo routes; other routes simply get none.
const SUGGESTIONS = {
  chat: ["Tell me about streaming", "Write **bold**, *italic*, `code` and a list:\n- one\n- two"],
  rag: ["How does resuming with Last-Event-ID work?", "What does the gateway measure for every stream?"],
  agent: ["Status of order_id=A123?", "Where is order B456?"],
};

const $ = (id) => document.getElementById(id);
const routes = new Map();
const history = []; // [{route, role, content}] of finished turns
let current = null; // {stream, message}

const threads = new Map(); // route → thread id, for routes served on threads (graphs)

function threaded(route) {
  return Boolean(routes.get(route)?.threads);
}

function threadOf(route) {
  if (!threads.has(route)) threads.set(route, `pg-${newIdempotencyKey().slice(0, 12)}`);
  return threads.get(route);
}

function newThread() {
  const route = $("route").value;
  threads.set(route, `pg-${newIdempotencyKey().slice(0, 12)}`);
  showThread(route);
  $("empty")?.remove();
  const text = `New thread ${threads.get(route)}`;
  $("transcript").append(el("div", { class: "notice info thread-divider", text }));
}

function showThread(route) {
  const on = threaded(route);
  $("thread").hidden = !on;
  $("info-thread").textContent = on ? threadOf(route) : "—";
}

/** The run input for a message, by the route's input kind (`GET /v1/routes`): the rule the
 * OpenAI endpoint applies to its messages (`runs/inputs.py`, `chat_shape`). */
function shapeInput(route, text) {
  const info = routes.get(route) || {};
  const kind = info.input ?? "text";
  if (kind === "text") return text;
  if (kind === "field") return { [info.field]: text };
  // On a thread the graph keeps the conversation itself: send the new message only.
  const messages = threaded(route)
    ? []
    : history.filter((turn) => turn.route === route).map(({ role, content }) => ({ role, content }));
  messages.push({ role: "user", content: text });
  return kind === "messages" ? { messages } : messages;
}

function formRoute(route) {
  return routes.get(route)?.input === "form";
}

/** The form a route whose input no message can fill asks for: one input per field. */
function showForm(route) {
  const form = $("input-form");
  const on = formRoute(route);
  form.hidden = !on;
  $("prompt").hidden = on;
  $("prompt").required = !on;
  form.replaceChildren(el("legend", { text: "Input" }));
  if (!on) return;
  for (const field of routes.get(route).fields) {
    const attrs = { name: field.name, "data-type": field.type, id: `field-${field.name}` };
    let input;
    if (field.type === "boolean") input = el("input", { ...attrs, type: "checkbox" });
    else if (field.type === "json") input = el("textarea", { ...attrs, rows: "2", placeholder: "JSON" });
    else input = el("input", { ...attrs, type: field.type === "string" ? "text" : "number", step: "any" });
    if (field.required && field.type !== "boolean") input.required = true;
    form.append(el("label", { class: "field" }, `${field.title}${field.required ? " *" : ""} `, input));
  }
}

/** The form's values as the route's input object (numbers as numbers, JSON parsed). */
function formInput() {
  const value = {};
  for (const input of $("input-form").querySelectorAll("[name]")) {
    const type = input.dataset.type;
    if (type === "boolean") value[input.name] = input.checked;
    else if (input.value === "") continue;
    else if (type === "integer" || type === "number") value[input.name] = Number(input.value);
    else if (type === "json") value[input.name] = JSON.parse(input.value);
    else value[input.name] = input.value;
  }
  return value;
}

function showRoute(name) {
  const route = routes.get(name);
  $("route-description").textContent = route?.description || "";
  showThread(name);
  showForm(name);
  const box = $("suggestions");
  box.replaceChildren(
    ...(SUGGESTIONS[name] || []).map((text) =>
      el("button", {
        type: "button",
        class: "suggestion",
        text,
        onclick: () => {
          $("prompt").value = text;
          $("prompt").focus();
        },
      }),
    ),
  );
}

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
}

function userTurn(text, kind = "user") {
  $("empty")?.remove();
  $("transcript").append(el("article", { class: `msg ${kind}` }, el("div", { class: "answer", text })));
}

/** One assistant turn: `begin(stream)` starts the run; resolves with the message at its end. */
async function runTurn(route, begin) {
  const transcript = $("transcript");
  const thread = threaded(route) ? threadOf(route) : null;
  const message = new AssistantMessage(transcript, {
    route,
    onDecide: thread && ((decisions) => decide(route, thread, decisions)),
    onResume: thread && ((value) => resume(route, thread, value)),
    onFeedback: giveFeedback,
  });
  const stream = new RunStream({
    onEvent: (ev) => {
      message.apply(ev);
      $("info-seq").textContent = `${ev.seq} (${ev.type})`;
      if (ev.type === "run.start") $("info-run").textContent = ev.data.run_id;
      transcript.scrollTop = transcript.scrollHeight;
    },
    onState: ({ state, attempt, error }) => {
      const label = state === "reconnecting" ? `reconnecting (attempt ${attempt})` : state;
      $("info-connection").textContent = label;
      $("info-rejoins").textContent = String(stream.rejoins);
      message.rejoins = stream.rejoins;
      if (state !== "ended") message.setState(state === "streaming" ? "streaming…" : label);
      if (state === "failed") {
        message.notice("error", error.message);
        message.node.dataset.status = "failed";
      }
    },
  });
  current = { stream, message };
  setBusy(true);
  try {
    await begin(stream);
  } finally {
    setBusy(false);
    current = null;
  }
  return message;
}

async function send(event) {
  event.preventDefault();
  const route = $("route").value;
  if (current) return;
  let input;
  let text;
  if (formRoute(route)) {
    try {
      input = formInput();
    } catch (error) {
      $("transcript").append(el("div", { class: "notice error", text: `Invalid JSON: ${error.message}` }));
      return;
    }
    text = JSON.stringify(input);
  } else {
    text = $("prompt").value.trim();
    if (!text) return;
    input = shapeInput(route, text);
    $("prompt").value = "";
  }
  userTurn(text);
  const body = { input };
  if (threaded(route)) body.thread_id = threadOf(route);
  const message = await runTurn(route, (stream) => stream.start(route, body));
  if (message.status === "completed") {
    history.push({ route, role: "user", content: text }, { route, role: "assistant", content: message.text });
  }
}

/** A user's thumb on a finished run (`POST /v1/runs/{id}/feedback`). */
async function giveFeedback(runId, score) {
  const response = await apiFetch(`/v1/runs/${encodeURIComponent(runId)}/feedback`, {
    method: "POST",
    body: { score },
  });
  if (!response.ok) throw await httpError(response);
}

/** Answer a paused run's approvals; the resumed run streams in as the next turn. */
async function decide(route, thread, decisions) {
  if (current) return false;
  userTurn(decisions.map((d) => `${d.type} ${d.call_id}`).join(", "), "user decision");
  const path = `/v1/threads/${encodeURIComponent(thread)}/approvals`;
  const message = await runTurn(route, (stream) => stream.post(path, { decisions }));
  return message.node.dataset.status !== "failed";
}

async function resume(route, thread, value) {
  if (current) return false;
  userTurn(typeof value === "string" ? value : JSON.stringify(value), "user decision");
  const body = { thread_id: thread, command: { resume: value } };
  const message = await runTurn(route, (stream) => stream.start(route, body));
  return message.node.dataset.status !== "failed";
}

async function stop() {
  if (!current) return;
  $("stop").disabled = true;
  try {
    await current.stream.cancel("stopped by the user");
  } catch (error) {
    current?.message.notice("error", `Could not stop the run: ${error.message}`);
    $("stop").disabled = false;
  }
}

async function main() {
  mountKeyField($("api-key"));
  $("composer").addEventListener("submit", send);
  $("stop").addEventListener("click", stop);
  $("new-thread").addEventListener("click", newThread);
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("route").addEventListener("change", () => showRoute($("route").value));
  // With auth on, the route list needs a key: load it again once one is entered.
  $("api-key").addEventListener("change", () => routes.size || loadRoutes());
  await loadRoutes();
  document.body.dataset.ready = "true";
}

async function loadRoutes() {
  $("routes-error")?.remove();
  try {
    const body = await getJson("/v1/routes");
    for (const route of body.routes) {
      routes.set(route.name, route);
      $("route").append(el("option", { value: route.name, text: route.name }));
    }
  } catch (error) {
    const text = `Could not load routes: ${error.message}`;
    $("transcript").append(el("div", { id: "routes-error", class: "notice error", text }));
    return;
  }
  const wanted = new URLSearchParams(location.search).get("route");
  if (wanted && routes.has(wanted)) $("route").value = wanted;
  showRoute($("route").value);
}

main();
