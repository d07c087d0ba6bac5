// Reads a tokenwire UI message stream with the real AI SDK and prints what useChat would hold.
//
//   node read_ui_stream.mjs send   <api> <chatId> <text>   -> DefaultChatTransport.sendMessages
//   node read_ui_stream.mjs resume <api> <chatId>          -> DefaultChatTransport.reconnectToStream
//
// Prints one JSON line: {"message": <final UIMessage>, "chunks": [...], "errors": [...]},
// or {"message": null} when there is no stream to resume (HTTP 204).
import { DefaultChatTransport, readUIMessageStream } from "ai";

const [mode, api, chatId, text] = process.argv.slice(2);
const transport = new DefaultChatTransport({ api });

const stream =
  mode === "send"
    ? await transport.sendMessages({
        chatId,
        trigger: "submit-message",
        messageId: undefined,
        abortSignal: undefined,
        messages: [{ id: "user-1", role: "user", parts: [{ type: "text", text }] }],
      })
    : await transport.reconnectToStream({ chatId });

if (stream === null) {
  console.log(JSON.stringify({ message: null }));
} else {
  const [forMessage, forChunks] = stream.tee();
  const chunks = [];
  const collecting = (async () => {
    for await (const chunk of forChunks) chunks.push(chunk);
  })();
  const errors = [];
  let message = null;
  for await (const snapshot of readUIMessageStream({
    stream: forMessage,
    onError: (error) => errors.push(String(error?.message ?? error)),
  })) {
    message = snapshot;
  }
  await collecting;
  console.log(JSON.stringify({ message, chunks, errors }));
}
