// A publishing process for the cluster failover test: a publisher with
// persistence on, given every node's URL, publishes events until it is killed
// (SIGKILL: a crash) or asked to stop (SIGTERM: a graceful close). On stdout:
// `id <event id>` for each event whose publish() resolved, `stats <json>`
// every 100 ms, and `closed <json>` after a graceful close.
// Usage: deno run -A _failover_child.ts <store path> <url,url,...> <exchange> <id prefix> <connection name>

import { createRabbitMQAsyncEventPublisher } from "../../mod.ts";
import { failoverAsyncConfig, failoverRabbitConfig } from "./_failover_config.ts";

const [path, urls, exchange, prefix, connectionName] = Deno.args;
const encoder = new TextEncoder();
const write = (line: string) => Deno.stdout.writeSync(encoder.encode(line + "\n"));

const publisher = await createRabbitMQAsyncEventPublisher(
  failoverRabbitConfig(urls.split(","), exchange, connectionName),
  failoverAsyncConfig({ enablePersistence: true, persistentStoragePath: path }),
  {
    logger: {
      debug: () => {},
      info: () => {},
      warn: (...args) => console.error("warn:", ...args),
      error: (...args) => console.error("error:", ...args),
    },
  },
);

let stopping = false;
const stopped = Promise.withResolvers<void>();
Deno.addSignalListener("SIGTERM", () => {
  stopping = true;
  stopped.resolve();
});

const sampler = setInterval(() => {
  const stats = publisher.getStats();
  write(`stats ${
    JSON.stringify({
      at: Date.now(),
      published: stats.publishedEvents,
      state: stats.connectionState,
      url: stats.brokerUrl,
      pending: stats.bufferStats.size,
    })
  }`);
}, 100);

const CHUNK = 10;
for (let n = 0; !stopping; n += CHUNK) {
  const events = Array.from({ length: CHUNK }, (_, i) => ({
    id: `${prefix}-${n + i}`,
    type: "cluster.event",
    data: { n: n + i },
  }));
  await publisher.publishBatch(events);
  for (const event of events) write(`id ${event.id}`);
  await Promise.race([stopped.promise, new Promise((resolve) => setTimeout(resolve, 20))]);
}
const report = await publisher.close({ timeoutMs: 60_000 });
clearInterval(sampler);
write(`closed ${JSON.stringify(report)}`);
Deno.exit(0);
