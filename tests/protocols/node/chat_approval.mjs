// A real AI SDK chat (AbstractChat, as useChat runs it) through one tool approval:
//
//   node chat_approval.mjs <api> <chatId> <text> <approved: true|false> [reason]
//
// sends <text>; when the answer asks for approval (a tool part in state
// "approval-requested"), answers it with addToolApprovalResponse, which sends the
// follow-up request on its own (sendAutomaticallyWhen:
// lastAssistantMessageIsCompleteWithApprovalResponses). Prints one JSON line:
// {"requested": <assistant message when approval was requested>, "messages": [...final],
//  "bodies": [<each request body sent>], "error": <string|null>}.
import {
  AbstractChat,
  DefaultChatTransport,
  lastAssistantMessageIsCompleteWithApprovalResponses,
} from "ai";

const [api, chatId, text, approved, reason] = process.argv.slice(2);

class State {
  constructor() {
    this.status = "ready";
    this.error = undefined;
    this.messages = [];
  }
  pushMessage(message) {
    this.messages = [...this.messages, message];
  }
  popMessage() {
    this.messages = this.messages.slice(0, -1);
  }
  replaceMessage(index, message) {
    this.messages = this.messages.map((m, i) => (i === index ? message : m));
  }
  snapshot(value) {
    return structuredClone(value);
  }
}

const bodies = [];
const transport = new DefaultChatTransport({
  api,
  fetch: async (url, init) => {
    bodies.push(JSON.parse(init.body));
    return fetch(url, init);
  },
});
const state = new State();
let finished = 0;
let onFinish = () => {};
const chat = new AbstractChat({
  id: chatId,
  transport,
  state,
  sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
  onFinish: () => {
    finished += 1;
    onFinish();
  },
});

const done = (count) =>
  new Promise((resolve) => {
    if (finished >= count) return resolve();
    onFinish = () => finished >= count && resolve();
  });

await chat.sendMessage({ text });
await done(1);
const requested = structuredClone(state.messages.at(-1));
const part = requested.parts.find((p) => p.state === "approval-requested");
if (part) {
  await chat.addToolApprovalResponse({
    id: part.approval.id,
    approved: approved === "true",
    reason: reason || undefined,
  });
  await done(2);
  while (chat.status !== "ready" && chat.status !== "error") {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
console.log(
  JSON.stringify({
    requested,
    messages: state.messages,
    bodies,
    error: chat.error ? String(chat.error.message ?? chat.error) : null,
  }),
);
