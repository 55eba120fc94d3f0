// A child process for the crash test: publishes events with persistence on
// and prints each id whose publish() resolved, until it is killed.
// Usage: deno run -A tests/_crash_child.ts <store path> <broker url> <exchange>

import { createRabbitMQAsyncEventPublisher } from "../../mod.ts";

const [path, url, exchange] = Deno.args;
const publisher = await createRabbitMQAsyncEventPublisher(
  { url, exchange },
  {
    // Large batches and a slow interval keep many events pending at the kill.
    batchSize: 200,
    flushInterval: 200,
    bufferConfig: { enablePersistence: true, persistentStoragePath: path },
  },
);
const encoder = new TextEncoder();
for (let n = 0;; n++) {
  const id = `crash-${n}`;
  const priority = n % 10 === 0 ? "high" : "normal";
  await publisher.publish({ id, type: "crash.test", data: { n }, metadata: { priority } });
  await Deno.stdout.write(encoder.encode(id + "\n"));
}
