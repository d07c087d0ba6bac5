// A paused run's questions for a human, as cards: the tool calls a HITL interrupt gates
// (`approval.required`: approve / edit / reject / respond each, as its review allows) and
// plain `interrupt()` values (answered with a text, sent as JSON when it parses as JSON).
// The cards only collect answers; the caller sends them — the playground and the console
// both post decisions to `POST /v1/threads/{id}/approvals` and stream the resumed run.

import { el } from "./format.js";

const LABELS = { approve: "Approve", edit: "Edit", reject: "Reject", respond: "Respond" };
const NEEDS_MESSAGE = new Set(["reject", "respond"]);

/** One gated tool call: its decision buttons and the inputs the chosen one needs. */
class CallDecision {
  constructor(call) {
    this.call = call;
    this.type = null;
    this.args = el("textarea", { class: "edit-args", rows: "4", hidden: "", "aria-label": "new arguments (JSON)" });
    this.args.value = JSON.stringify(call.args ?? {}, null, 2);
    this.message = el("input", { type: "text", class: "decision-message", hidden: "", placeholder: "message", "aria-label": "message" });
    this.buttons = (call.allowed_decisions || []).map((type) =>
      el("button", {
        type: "button",
        class: `small ghost decision ${type}`,
        "data-decision": type,
        "aria-pressed": "false",
        text: LABELS[type] || type,
        onclick: () => this.choose(type),
      }),
    );
    this.node = el(
      "li",
      { class: "approval", "data-call-id": call.call_id },
      el("div", { class: "step-head" }, el("span", { class: "tool-name", text: call.name }), el("span", { class: "muted", text: call.description || "" })),
      el("pre", { class: "approval-args", text: JSON.stringify(call.args ?? {}, null, 2) }),
      el("div", { class: "actions decisions" }, ...this.buttons),
      this.args,
      this.message,
    );
    this.onChange = () => {};
  }

  choose(type) {
    this.type = type;
    for (const button of this.buttons) button.setAttribute("aria-pressed", String(button.dataset.decision === type));
    this.args.hidden = type !== "edit";
    this.message.hidden = !NEEDS_MESSAGE.has(type);
    this.node.dataset.decision = type;
    this.onChange();
  }

  /** The decision as the approvals endpoint takes it; throws when an input is invalid. */
  decision() {
    const decision = { call_id: this.call.call_id, type: this.type };
    if (this.type === "edit") {
      try {
        decision.args = JSON.parse(this.args.value);
      } catch (error) {
        throw new Error(`${this.call.name}: the new arguments are not JSON (${error.message})`);
      }
    }
    const message = this.message.value.trim();
    if (NEEDS_MESSAGE.has(this.type) && message) decision.message = message;
    if (this.type === "respond" && !message) throw new Error(`${this.call.name}: a response needs a message`);
    return decision;
  }

  setDisabled(disabled) {
    for (const control of [...this.buttons, this.args, this.message]) control.disabled = disabled;
  }
}

/** The approval card: every pending call, one submit for all (the endpoint wants each once). */
export class ApprovalCard {
  constructor(container, calls, onSubmit) {
    this.calls = calls.map((call) => new CallDecision(call));
    this.submit = el("button", { type: "button", class: "small submit-decisions", text: "Submit decisions", disabled: "" });
    this.error = el("div", { class: "notice error", role: "alert", hidden: "" });
    this.node = el(
      "section",
      { class: "approvals card-inline" },
      el("h4", { text: "Waiting for your approval" }),
      el("ol", { class: "approval-list" }, ...this.calls.map((c) => c.node)),
      el("div", { class: "actions" }, this.submit),
      this.error,
    );
    for (const call of this.calls) call.onChange = () => this.#update();
    this.submit.addEventListener("click", () => this.#send(onSubmit));
    container.append(this.node);
  }

  #update() {
    this.submit.disabled = !this.calls.every((call) => call.type);
  }

  async #send(onSubmit) {
    this.error.hidden = true;
    let decisions;
    try {
      decisions = this.calls.map((call) => call.decision());
    } catch (error) {
      this.fail(error.message);
      return;
    }
    this.setDisabled(true);
    this.node.dataset.state = "sent";
    const ok = await onSubmit(decisions);
    if (ok === false) {
      this.node.dataset.state = "open";
      this.setDisabled(false);
    }
  }

  fail(text) {
    this.error.textContent = text;
    this.error.hidden = false;
  }

  setDisabled(disabled) {
    for (const call of this.calls) call.setDisabled(disabled);
    this.submit.disabled = disabled;
  }
}

/** A plain `interrupt(value)`: show the value, resume with what the user types. */
export class ResumeCard {
  constructor(container, interrupts, onSubmit) {
    this.fields = interrupts.map((item) => ({
      id: item.interrupt_id,
      input: el("input", { type: "text", class: "resume-value", placeholder: "answer (text or JSON)", "aria-label": "answer" }),
      item,
    }));
    this.submit = el("button", { type: "button", class: "small submit-resume", text: "Resume" });
    this.node = el(
      "section",
      { class: "interrupts card-inline" },
      el("h4", { text: "The graph asks" }),
      el(
        "ol",
        { class: "approval-list" },
        ...this.fields.map(({ id, input, item }) =>
          el("li", { class: "interrupt", "data-interrupt-id": id }, el("pre", { class: "interrupt-value", text: show(item.value) }), input),
        ),
      ),
      el("div", { class: "actions" }, this.submit),
    );
    this.submit.addEventListener("click", async () => {
      this.#disable(true);
      // One interrupt takes the value itself; several are answered by interrupt id.
      const values = this.fields.map(({ input }) => parse(input.value));
      const resume =
        values.length === 1 ? values[0] : Object.fromEntries(this.fields.map(({ id }, i) => [id, values[i]]));
      if ((await onSubmit(resume)) === false) this.#disable(false);
    });
    container.append(this.node);
  }

  #disable(disabled) {
    for (const { input } of this.fields) input.disabled = disabled;
    this.submit.disabled = disabled;
  }
}

function show(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The interrupts a paused run left that no approval card covers (not HITL requests). */
export function plainInterrupts(interrupts, approvals) {
  const gated = new Set(approvals.map((call) => call.interrupt_id));
  return interrupts.filter((item) => !gated.has(item.interrupt_id));
}
