// The real @langchain/langgraph-sdk Client against tokenwire's LangGraph server API:
//
//   node langgraph_client.mjs drop   <apiUrl> <apiKey> <assistant> <cutAfterBytes>
//   node langgraph_client.mjs rejoin <apiUrl> <apiKey> <assistant> <abortAfterParts>
//
// Both create a thread and stream a run in the modes useStream asks for, then resume its
// interrupt with `command: {resume: "yes"}`.
//
// drop: the client talks through a TCP proxy on 127.0.0.1 that cuts the connection of the
// first `POST .../runs/stream` after <cutAfterBytes> bytes of its response (mid-frame,
// whatever the timing). The SDK's own retry (streamWithRetry) reconnects to the response's
// `Location` with `Last-Event-ID` and goes on; "parts" is everything the one `stream` call
// yielded.
//
// rejoin: the client aborts its stream after <abortAfterParts> parts, then rejoins with
// `client.runs.joinStream(threadId, runId, {lastEventId})`; "parts" is the parts before the
// abort followed by those of the rejoin.
//
// Prints one JSON line: {"threadId", "runId", "parts": [{event, id, data}], "resumed":
// [...parts of the resume], "requests": [{method, path, lastEventId}], "cuts": <n>}.
import net from "node:net";
import { Client } from "@langchain/langgraph-sdk";

const [scenario, apiUrl, apiKey, assistant, limit] = process.argv.slice(2);
const MODES = ["values", "updates", "messages-tuple", "custom"];
const INPUT = { messages: [{ role: "user", content: "hi" }] };

/** A loopback proxy to `target` that cuts the first streamed run's response after `cut`
 * bytes (the response's headers included). */
async function cuttingProxy(target, cut) {
  const upstream = new URL(target);
  let armed = true;
  let cuts = 0;
  const sockets = new Set();
  const server = net.createServer((client) => {
    const origin = net.connect(Number(upstream.port), upstream.hostname);
    sockets.add(client).add(origin);
    let sent = null; // bytes of the cut response so far; null: not the one to cut
    client.on("data", (chunk) => {
      const head = chunk.toString("latin1", 0, 512);
      if (armed && /^POST [^ ]*\/runs\/stream /.test(head)) {
        armed = false;
        sent = 0;
      }
      origin.write(chunk);
    });
    origin.on("data", (chunk) => {
      if (sent === null) {
        client.write(chunk);
        return;
      }
      const room = cut - sent;
      client.write(chunk.subarray(0, Math.max(room, 0)));
      sent += chunk.length;
      if (sent >= cut) {
        cuts += 1;
        sent = null;
        client.destroy();
        origin.destroy();
      }
    });
    const close = () => {
      client.destroy();
      origin.destroy();
    };
    client.on("error", close);
    origin.on("error", close);
    client.on("close", close);
    origin.on("close", close);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cuts: () => cuts,
    close: () => {
      for (const socket of sockets) socket.destroy(); // the client's idle keep-alives too
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

function plain(part) {
  return { event: part.event, id: part.id ?? null, data: part.data };
}

async function main() {
  const requests = [];
  const proxy = scenario === "drop" ? await cuttingProxy(apiUrl, Number(limit)) : null;
  const client = new Client({
    apiUrl: proxy ? proxy.url : apiUrl,
    apiKey,
    onRequest: (url, init) => {
      const headers = new Headers(init.headers);
      requests.push({
        method: init.method ?? "GET",
        path: new URL(url).pathname,
        lastEventId: headers.get("last-event-id"),
      });
      return init;
    },
  });
  const thread = await client.threads.create();
  const threadId = thread.thread_id;
  let runId = null;
  const parts = [];

  if (scenario === "drop") {
    for await (const part of client.runs.stream(threadId, assistant, {
      input: INPUT,
      streamMode: MODES,
      onRunCreated: (meta) => {
        runId = meta.run_id;
      },
    })) {
      parts.push(plain(part));
    }
  } else {
    const controller = new AbortController();
    for await (const part of client.runs.stream(threadId, assistant, {
      input: INPUT,
      streamMode: MODES,
      onDisconnect: "continue", // what a client that means to rejoin asks for
      signal: controller.signal,
      onRunCreated: (meta) => {
        runId = meta.run_id;
      },
    })) {
      parts.push(plain(part));
      if (parts.length >= Number(limit)) {
        controller.abort();
        break;
      }
    }
    const lastEventId = parts[parts.length - 1].id;
    for await (const part of client.runs.joinStream(threadId, runId, {
      lastEventId,
      streamMode: MODES,
    })) {
      parts.push(plain(part));
    }
  }

  const resumed = [];
  for await (const part of client.runs.stream(threadId, assistant, {
    command: { resume: "yes" },
    streamMode: MODES,
  })) {
    resumed.push(plain(part));
  }
  await proxy?.close();
  const cuts = proxy ? proxy.cuts() : 0;
  process.stdout.write(JSON.stringify({ threadId, runId, parts, resumed, requests, cuts }) + "\n");
}

await main();
