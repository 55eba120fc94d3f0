// A program for Node, bundled and run by node_smoke_test.ts: a publisher with
// persistence on, as an application would use it.
//
//   node smoke_app.mjs publish <url> <exchange> <store path> <tag>
//     publishes events until it is killed, one in ten high priority, and
//     prints "accepted <id> <status>" once each has been accepted;
//   node smoke_app.mjs drain <url> <exchange> <store path>
//     reopens the store, sends what it holds, closes, and prints
//     "drained <remaining>".

import process from "node:process";
import {
  createRabbitMQAsyncEventPublisher,
  type DomainEvent,
  type EventPriority,
} from "../../mod.ts";

const [mode, url, exchange, path, tag = "run"] = process.argv.slice(2);
const SILENT = { debug() {}, info() {}, warn() {}, error: console.error };

// While publishing, only the high-priority events are sent (one at a time):
// the normal ones accepted before the kill are on disk only, and the
// restarted process must send them.
const publishing = mode === "publish";
const publisher = await createRabbitMQAsyncEventPublisher({ url, exchange }, {
  enableBackgroundProcessing: !publishing,
  batchSize: publishing ? 1 : 100,
  bufferConfig: { enablePersistence: true, persistentStoragePath: path },
}, { logger: SILENT });

if (publishing) {
  const event = (n: number, priority: EventPriority): DomainEvent => ({
    id: `${tag}-${n}`,
    type: "node.smoke",
    data: { n, runtime: `node ${process.version}` },
    metadata: { source: "node-smoke", priority },
  });
  for (let n = 0;; n += 10) {
    // One high-priority event, confirmed by the broker before publish()
    // resolves, then nine normal ones, on disk when publishBatch() resolves.
    const receipts = [await publisher.publish(event(n, "high"))];
    const normal = Array.from({ length: 9 }, (_, i) => event(n + 1 + i, "normal"));
    receipts.push(...await publisher.publishBatch(normal));
    for (const receipt of receipts) console.log(`accepted ${receipt.id} ${receipt.status}`);
  }
} else {
  const remaining = await publisher.flush(20_000);
  const report = await publisher.close({ timeoutMs: 20_000 });
  console.log(`drained ${Math.max(remaining, report.remaining)}`);
}
