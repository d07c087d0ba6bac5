// The chat playground: pick a route, send a message, watch the answer stream.

import { getJson, mountKeyField } from "./api.js";
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

function shapeInput(route, text) {
  const kind = routes.get(route)?.input ?? "text";
  if (kind === "text") return text;
  const messages = history
    .filter((turn) => turn.route === route)
    .map(({ role, content }) => ({ role, content }));
  messages.push({ role: "user", content: text });
  return kind === "messages" ? { messages } : messages;
}

function showRoute(name) {
  const route = routes.get(name);
  $("route-description").textContent = route?.description || "";
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

async function send(event) {
  event.preventDefault();
  const route = $("route").value;
  const text = $("prompt").value.trim();
  if (!text || current) return;
  $("empty")?.remove();
  const transcript = $("transcript");
  transcript.append(el("article", { class: "msg user" }, el("div", { class: "answer", text })));
  $("prompt").value = "";
  const message = new AssistantMessage(transcript, { route });
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
    await stream.start(route, { input: shapeInput(route, text) });
  } finally {
    setBusy(false);
    current = null;
    if (message.status === "completed") {
      history.push({ route, role: "user", content: text }, { route, role: "assistant", content: message.text });
    }
  }
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
