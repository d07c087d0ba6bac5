// One assistant answer, built from a run's canonical events: streamed text (rendered as safe
// markdown), reasoning, the agent's tool steps as a timeline, citations, notices for
// guardrail actions and errors, and badges with the run's latency, tokens and cost.
// Used by the playground for its own runs and by the console to watch someone else's.

import { ApprovalCard, ResumeCard, plainInterrupts } from "./approvals.js";
import { DASH, el, ms, rate, safeLink, usd } from "./format.js";
import { renderMarkdown } from "./markdown.js";

const MAX_TOOL_OUTPUT = 600;

function compact(value) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > MAX_TOOL_OUTPUT ? `${text.slice(0, MAX_TOOL_OUTPUT)}…` : text;
}

export class AssistantMessage {
  /**
   * `onDecide(decisions)` and `onResume(value)`, when given, answer a run that pauses
   * (`interrupted`): its approval or interrupt card is shown with them as the submit.
   * `onFeedback(runId, score)`, when given, is what the thumbs under a finished answer call.
   * `serverTimed`: the live TTFT is the gateway's (`setServerTtft`), not the time since
   * `sentAt` — for a run watched after it started (the console), where the browser did not
   * send the request; `onFirstToken(message)` is called at the first token seen.
   */
  constructor(container, { route, sentAt = performance.now(), onDecide = null, onResume = null, onFeedback = null, serverTimed = false, onFirstToken = null }) {
    this.sentAt = sentAt;
    this.serverTimed = serverTimed;
    this.serverTtftMs = null;
    this.onFirstToken = onFirstToken;
    this.onDecide = onDecide;
    this.onResume = onResume;
    this.onFeedback = onFeedback;
    this.approvals = [];
    this.interrupts = [];
    this.text = "";
    this.tokens = 0;
    this.firstTokenAt = null;
    this.status = "running";
    this.#renderPending = false;
    this.node = el("article", { class: "msg assistant", "data-status": "running" });
    this.state = el("span", { class: "state", text: "connecting…" });
    this.model = el("span", { class: "model" });
    this.head = el("header", { class: "msg-head" }, el("span", { class: "who", text: route }), this.model, this.state);
    this.timeline = el("ol", { class: "timeline" });
    this.tools = el("section", { class: "tools", hidden: "" }, el("h4", { text: "Agent steps" }), this.timeline);
    this.reasoningText = el("div", { class: "reasoning-text" });
    this.reasoning = el("details", { class: "reasoning", hidden: "" }, el("summary", { text: "Reasoning" }), this.reasoningText);
    this.answer = el("div", { class: "answer md" });
    this.notices = el("div", { class: "notices" });
    this.sources = el("ol");
    this.citations = el("section", { class: "citations", hidden: "" }, el("h4", { text: "Sources" }), this.sources);
    this.output = el("pre", { class: "output", hidden: "" });
    this.callList = el("ol");
    this.toolCalls = el("section", { class: "tool-calls", hidden: "" }, el("h4", { text: "Tool calls requested" }), this.callList);
    this.pause = el("div", { class: "pause" });
    this.badges = el("footer", { class: "badges" });
    this.node.append(this.head, this.tools, this.reasoning, this.answer, this.toolCalls, this.output, this.citations, this.notices, this.pause, this.badges);
    container.append(this.node);
    this.#liveBadges();
  }

  #renderPending;

  /** Apply one canonical event ({seq, type, data}). */
  apply({ type, data }) {
    switch (type) {
      case "run.start":
        this.runId = data.run_id;
        this.node.dataset.runId = data.run_id;
        this.model.textContent = data.model || "";
        break;
      case "token":
        if (this.firstTokenAt === null) {
          this.firstTokenAt = performance.now();
          this.onFirstToken?.(this);
        }
        this.text += data.text;
        this.tokens += 1;
        this.#scheduleRender();
        break;
      case "reasoning":
        this.reasoning.hidden = false;
        this.reasoningText.textContent += data.text;
        break;
      case "tool.start":
        this.#toolStart(data);
        break;
      case "tool.end":
        this.#toolEnd(data);
        break;
      case "approval.required":
        this.approvals.push(data);
        this.notice("info", `Waiting for approval: ${data.name}(${compact(data.args)})`);
        break;
      case "interrupt":
        this.interrupts.push(data);
        break;
      case "retrieval":
        this.#retrieval(data.documents || []);
        break;
      case "custom":
        this.#custom(data);
        break;
      case "node.start":
        this.setState(`running ${data.name}…`);
        break;
      case "guardrail":
        this.notice(
          "guardrail",
          `Guardrail ${data.action}${data.rule ? ` (${data.rule})` : ""}${data.detail ? `: ${data.detail}` : ""}`,
        );
        break;
      case "error":
        this.notice(data.code === "cancelled" ? "stopped" : "error", this.#errorText(data));
        break;
      case "usage":
        this.usage = data;
        break;
      case "run.restart":
        this.text = "";
        this.#render();
        this.notice("info", "A fallback took over: the partial answer was discarded.");
        break;
      case "run.end":
        this.#end(data);
        break;
      default:
        break; // an event type this UI does not know yet: ignore, never break the stream
    }
  }

  setState(text) {
    this.state.textContent = text;
  }

  notice(kind, text) {
    this.notices.append(el("div", { class: `notice ${kind}`, role: "status", text }));
  }

  #errorText(data) {
    if (data.code === "cancelled") return `Stopped — ${data.message}`;
    return `Error (${data.code}): ${data.message}${data.retryable ? " — retryable" : ""}`;
  }

  #scheduleRender() {
    if (this.#renderPending) return;
    this.#renderPending = true;
    // One render per frame at most, however fast tokens arrive; the timer covers hidden
    // tabs, where animation frames pause.
    const flush = () => {
      if (!this.#renderPending) return;
      this.#renderPending = false;
      this.#render();
    };
    requestAnimationFrame(flush);
    setTimeout(flush, 100);
    this.#liveBadges();
  }

  #render() {
    this.answer.innerHTML = renderMarkdown(this.text);
  }

  #toolStart(data) {
    this.tools.hidden = false;
    const item = el(
      "li",
      { class: "step running", "data-call-id": data.call_id },
      el("div", { class: "step-head" }, el("span", { class: "tool-name", text: data.name }), el("span", { class: "step-state", text: "running…" })),
      el("pre", { class: "tool-args", text: compact(data.args) }),
    );
    item.startedAt = performance.now();
    this.timeline.append(item);
  }

  #toolEnd(data) {
    let item = [...this.timeline.children].find((li) => li.dataset.callId === data.call_id);
    if (!item) {
      this.#toolStart(data);
      item = this.timeline.lastElementChild;
    }
    const failed = Boolean(data.error);
    item.className = `step ${failed ? "failed" : "done"}`;
    const took = Math.round(performance.now() - item.startedAt);
    item.querySelector(".step-state").textContent = failed ? `failed after ${took} ms` : `done in ${took} ms`;
    item.append(el("pre", { class: "tool-output", text: compact(failed ? data.error : data.output) }));
  }

  #custom(data) {
    // What the runnable's code streamed itself: shown in the steps timeline, as sent.
    this.tools.hidden = false;
    const shown = data.error ? data.error : compact(data.data);
    this.timeline.append(
      el(
        "li",
        { class: "step custom" },
        el("div", { class: "step-head" }, el("span", { class: "tool-name", text: data.name || "custom" })),
        el("pre", { class: "tool-output", text: shown }),
      ),
    );
  }

  #retrieval(documents) {
    this.citations.hidden = false;
    for (const doc of documents) {
      const title = doc.title || doc.source || doc.id || "document";
      this.sources.append(
        el(
          "li",
          { class: "citation", "data-doc-id": doc.id ?? "" },
          safeLink(doc.source, title),
          doc.source && doc.source !== title ? el("span", { class: "source", text: ` — ${doc.source}` }) : null,
          doc.snippet ? el("blockquote", { text: doc.snippet }) : null,
        ),
      );
    }
  }

  #paused() {
    if (this.approvals.length && this.onDecide) new ApprovalCard(this.pause, this.approvals, this.onDecide);
    const plain = plainInterrupts(this.interrupts, this.approvals);
    if (plain.length && this.onResume) new ResumeCard(this.pause, plain, this.onResume);
  }

  #badge(kind, label, value, title) {
    const parts = label ? [el("b", { text: label }), ` ${value}`] : [value];
    return el("span", { class: `badge ${kind}`, "data-kind": kind, title }, ...parts);
  }

  /** The gateway's TTFT of this run (ms, from the request's arrival), while it streams. */
  setServerTtft(value) {
    this.serverTtftMs = value;
    if (this.status === "running") this.#liveBadges();
  }

  #liveBadges() {
    let ttft = this.firstTokenAt === null ? DASH : ms(this.firstTokenAt - this.sentAt);
    let source = "time to first token, measured in the browser";
    if (this.serverTimed) {
      ttft = this.serverTtftMs === null ? DASH : ms(this.serverTtftMs);
      source = "time to first token, measured by the gateway";
    }
    this.badges.replaceChildren(
      this.#badge("ttft", "TTFT", ttft, source),
      this.#badge("tokens", "tokens", String(this.tokens), "token events so far"),
    );
  }

  #end(data) {
    this.#renderPending = false;
    this.#render();
    this.status = data.status;
    this.node.dataset.status = data.status;
    this.setState(data.status);
    if (data.status !== "completed" && data.error && !this.notices.childElementCount) {
      this.notice("error", this.#errorText(data.error));
    }
    // A graph's answer may be its final state rather than streamed text: show that.
    const output = data.output;
    const calls = this.#toolCallsOf(output);
    if (calls.length) {
      if (!this.text && typeof output.content === "string" && output.content) {
        this.text = output.content;
        this.#render();
      }
      this.#showToolCalls(calls);
    } else if (!this.text && data.status === "completed" && typeof output === "string") {
      this.text = output;
      this.#render();
    } else if (!this.text && output !== undefined && output !== null && typeof output !== "string") {
      this.output.textContent = JSON.stringify(output, null, 2);
      this.output.hidden = false;
    }
    if (data.status === "interrupted") this.#paused();
    const timings = data.timings || {};
    const usage = data.usage || this.usage || {};
    const generating = (timings.duration_ms ?? 0) - (timings.ttft_ms ?? 0);
    const speed =
      usage.output_tokens > 1 && generating > 0 ? usage.output_tokens / (generating / 1000) : null;
    const tokens = usage.output_tokens ?? this.tokens;
    const badges = [
      this.#badge("status", "", data.status, "how the run ended"),
      this.#badge("ttft", "TTFT", ms(timings.ttft_ms), "time to first token, measured by the gateway"),
      this.#badge("speed", "tok/s", rate(speed), "output tokens per second after the first"),
      this.#badge("tokens", "tokens", `${usage.estimated ? "~" : ""}${tokens}`, usage.estimated ? "estimated: the provider reported no usage" : "output tokens"),
      this.#badge("cost", "cost", usd(usage.cost_usd), "estimated spend"),
    ];
    if (data.fallback_used) {
      badges.push(this.#badge("fallback", "fallback", String(data.fallback_used), "answered by a fallback"));
    }
    if (this.rejoins) {
      badges.push(this.#badge("rejoins", "rejoined", `×${this.rejoins}`, "the stream was resumed after a dropped connection"));
    }
    this.badges.replaceChildren(...badges);
    if (this.onFeedback && this.runId) this.#feedback();
  }

  /** The tool calls a model asked for (`run.end.output` of a chat model: `{type: "ai",
   * content, tool_calls: [{id, name, args}]}`), which the client is to execute. */
  #toolCallsOf(output) {
    const calls = output && typeof output === "object" ? output.tool_calls : null;
    return Array.isArray(calls) ? calls : [];
  }

  #showToolCalls(calls) {
    this.toolCalls.hidden = false;
    this.callList.replaceChildren(
      ...calls.map((call) =>
        el(
          "li",
          { class: "tool-call", "data-call-id": call.id ?? "" },
          el("span", { class: "tool-name", text: call.name }),
          el("pre", { class: "tool-args", text: compact(call.args) }),
        ),
      ),
    );
  }

  /** Thumbs up (score 1) and down (0); one choice per answer, shown as pressed. */
  #feedback() {
    const box = el("div", { class: "feedback", role: "group", "aria-label": "Rate this answer" });
    const thumbs = [
      ["up", 1, "\u{1F44D}", "Good answer"],
      ["down", 0, "\u{1F44E}", "Bad answer"],
    ].map(([kind, score, icon, title]) =>
      el("button", {
        type: "button",
        class: `thumb small ghost ${kind}`,
        "data-score": String(score),
        "aria-pressed": "false",
        title,
        text: icon,
        onclick: () => rate(score),
      }),
    );
    const said = el("span", { class: "muted small feedback-state" });
    const rate = async (score) => {
      for (const thumb of thumbs) thumb.disabled = true;
      try {
        await this.onFeedback(this.runId, score);
        for (const thumb of thumbs) thumb.setAttribute("aria-pressed", String(thumb.dataset.score === String(score)));
        said.textContent = "Thanks for the feedback";
        box.dataset.given = String(score);
      } catch (error) {
        for (const thumb of thumbs) thumb.disabled = false;
        said.textContent = `Feedback not sent: ${error.message}`;
      }
    };
    box.append(...thumbs, said);
    this.badges.append(box);
  }
}
