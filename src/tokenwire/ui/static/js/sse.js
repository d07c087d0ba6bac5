// Server-sent events over fetch: EventSource cannot POST or send an Authorization header,
// so the UI reads response bodies itself. The parser follows the WHATWG event-stream rules
// (CR, LF or CRLF line ends, comments, multi-line data, `id`, `retry`) and keeps state
// across chunks — a chunk may end anywhere, even between the CR and LF of one line end.

export class SseParser {
  #pending = "";
  #type = "";
  #data = [];
  #lastId = null;
  /** The server's reconnection hint (`retry:`), in milliseconds, once seen. */
  retry = null;

  /** Feed decoded text; returns the events completed by it: {id, event, data}. */
  feed(chunk) {
    const events = [];
    const buffer = this.#pending + chunk;
    const lineEnd = /\r\n|\r|\n/g;
    let position = 0;
    for (;;) {
      lineEnd.lastIndex = position;
      const hit = lineEnd.exec(buffer);
      // A lone CR at the very end may be the first half of a CRLF: wait for more.
      if (hit === null || (hit[0] === "\r" && hit.index === buffer.length - 1)) break;
      this.#line(buffer.slice(position, hit.index), events);
      position = hit.index + hit[0].length;
    }
    this.#pending = buffer.slice(position);
    return events;
  }

  #line(line, events) {
    if (line === "") {
      if (this.#data.length > 0) {
        events.push({ id: this.#lastId, event: this.#type || "message", data: this.#data.join("\n") });
      }
      this.#type = "";
      this.#data = [];
      return;
    }
    if (line.startsWith(":")) return; // a comment: heartbeats look like this
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.#type = value;
    else if (field === "data") this.#data.push(value);
    else if (field === "id" && !value.includes("\0")) this.#lastId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }
}

/** Read an event-stream response to its end, calling onEvent for each event. */
export async function readEventStream(response, onEvent, parser = new SseParser()) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const event of parser.feed(decoder.decode(value, { stream: true }))) {
        if (onEvent(event) === false) return;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
