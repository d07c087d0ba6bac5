// One run followed over SSE, surviving dropped connections.
//
// A run is not a connection: the stream can drop (network blip, proxy timeout, the server's
// maximum stream lifetime) while the run goes on. RunStream remembers the last event seq it
// saw and rejoins with `GET /v1/runs/{id}/stream` + `Last-Event-ID`, with backoff, until
// `run.end`. Events are deduplicated by seq, so a replay never shows a token twice.
// The first POST carries an Idempotency-Key: if it fails before the run id is known, the
// retry returns the same run instead of starting (and paying for) another.

import { HttpError, apiFetch, authHeaders, httpError, newIdempotencyKey } from "./api.js";
import { readEventStream } from "./sse.js";

const MAX_FAILURES = 8;
const MAX_BACKOFF_MS = 5000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class RunStream {
  /**
   * onEvent({seq, type, data}) for every new event; onState({state, attempt?, error?}) when
   * the connection changes: "connecting", "streaming", "reconnecting", "ended", "failed".
   */
  constructor({ onEvent, onState = () => {} }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.runId = null;
    this.lastSeq = 0;
    this.ended = false;
    this.rejoins = 0;
    this.closed = false;
    this.#controller = new AbortController();
  }

  #controller;
  #cancelReason = null;

  /** Start a run of `route` and follow it. Resolves when the run ended (or we gave up). */
  start(route, body) {
    return this.post(`/v1/routes/${encodeURIComponent(route)}/runs`, body);
  }

  /** Start a run by any endpoint that answers with one (a thread's approvals, say). */
  post(path, body) {
    const key = newIdempotencyKey();
    return this.#follow(() =>
      fetch(path, {
        method: "POST",
        headers: authHeaders({
          Accept: "text/event-stream",
          "Content-Type": "application/json",
          "Idempotency-Key": key,
          ...(this.lastSeq ? { "Last-Event-ID": String(this.lastSeq) } : {}),
        }),
        body: JSON.stringify(body),
        signal: this.#controller.signal,
      }),
    );
  }

  /** Follow an existing run from its first event (the console's "watch"). */
  watch(runId) {
    this.runId = runId;
    return this.#follow(() => this.#rejoin());
  }

  /** Stop generation: the run ends `cancelled`, and its last events still arrive here. */
  async cancel(reason) {
    if (this.ended) return;
    if (this.runId === null) {
      this.#cancelReason = reason; // sent as soon as run.start names the run
      return;
    }
    const response = await apiFetch(`/v1/runs/${this.runId}/cancel`, {
      method: "POST",
      body: { reason },
    });
    if (!response.ok) throw await httpError(response);
  }

  /** Stop reading (the run itself goes on as its on_disconnect policy says). */
  close() {
    this.closed = true;
    this.#controller.abort();
  }

  #rejoin() {
    return fetch(`/v1/runs/${this.runId}/stream`, {
      headers: authHeaders({ Accept: "text/event-stream", "Last-Event-ID": String(this.lastSeq) }),
      signal: this.#controller.signal,
    });
  }

  async #follow(connect) {
    let failures = 0;
    this.onState({ state: "connecting" });
    while (!this.ended && !this.closed) {
      const before = this.lastSeq;
      try {
        const response = await connect();
        if (!response.ok) throw await httpError(response);
        this.runId ??= response.headers.get("X-Run-Id");
        this.onState({ state: "streaming" });
        await readEventStream(response, (raw) => this.#dispatch(raw));
      } catch (error) {
        if (this.closed) return;
        if (error instanceof HttpError && !error.retryable) {
          this.onState({ state: "failed", error });
          return;
        }
        // Otherwise a network error: fall through and rejoin.
      }
      if (this.ended || this.closed) break;
      // The stream ended without run.end: the connection dropped, not the run.
      failures = this.lastSeq > before ? 1 : failures + 1;
      if (failures > MAX_FAILURES) {
        this.onState({ state: "failed", error: new Error("lost the connection to the gateway") });
        return;
      }
      this.onState({ state: "reconnecting", attempt: failures });
      // After progress, come back at once; after failures in a row, back off.
      await sleep(failures === 1 ? 100 : Math.min(250 * 2 ** (failures - 1), MAX_BACKOFF_MS));
      if (this.runId !== null) {
        connect = () => this.#rejoin();
        this.rejoins += 1;
      }
    }
    if (this.ended) this.onState({ state: "ended" });
  }

  #dispatch(raw) {
    const seq = Number(raw.id);
    if (Number.isInteger(seq)) {
      if (seq <= this.lastSeq) return true; // replayed after a rejoin: seen already
      this.lastSeq = seq;
    }
    let data;
    try {
      data = JSON.parse(raw.data);
    } catch {
      return true;
    }
    if (raw.event === "run.start" && data.run_id) {
      this.runId = data.run_id;
      if (this.#cancelReason !== null) this.cancel(this.#cancelReason).catch(() => {});
    }
    this.onEvent({ seq, type: raw.event, data });
    if (raw.event === "run.end") {
      this.ended = true;
      return false;
    }
    return true;
  }
}
