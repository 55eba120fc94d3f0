/**
 * An outage, without touching the broker: the publisher talks to RabbitMQ
 * through a small TCP relay that this example cuts and restores. While the
 * relay is cut, `publish()` still resolves (status `buffered`) and the events
 * wait in the buffer, on disk in Deno KV; once it is restored, the publisher
 * reconnects and drains the buffer until every event is delivered.
 *
 * Needs a RabbitMQ broker at an amqp:// URL (`RABBITMQ_URL`, default
 * amqp://guest:guest@localhost:5672). Takes about 6 seconds.
 *
 * Run it with:
 *
 *     deno run -A examples/outage.ts
 *
 * It publishes to the exchange `examples.outage`, and keeps the pending events
 * in a temporary directory that it removes at the end.
 *
 * @module
 */

import {
  createRabbitMQAsyncEventPublisher,
  type DomainEvent,
  type RabbitMQAsyncEventPublisher,
} from "../mod.ts";
import {
  exampleLogger,
  type ExampleOptions,
  exampleRabbitMQConfig,
  Inbox,
  runExample,
  sampleEvent,
  sleep,
  waitUntil,
} from "./_common.ts";

/**
 * Forwards TCP connections from a local port to the broker. `cut()` closes
 * every relayed connection and refuses new ones until `restore()`.
 */
class Relay implements AsyncDisposable {
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly #open = new Set<Deno.Conn>();
  readonly #relays = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #cut = false;

  constructor(readonly target: Deno.ConnectOptions) {
    this.#accepting = this.#accept();
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  cut(): void {
    this.#cut = true;
    for (const conn of this.#open) this.#drop(conn);
  }

  restore(): void {
    this.#cut = false;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    this.cut();
    await this.#accepting;
    await Promise.all(this.#relays);
  }

  async #accept(): Promise<void> {
    try {
      for await (const client of this.#listener) {
        if (this.#cut) {
          client.close();
          continue;
        }
        const relay = this.#relay(client).finally(() => this.#relays.delete(relay));
        this.#relays.add(relay);
      }
    } catch {
      // The listener was closed.
    }
  }

  async #relay(client: Deno.Conn): Promise<void> {
    this.#open.add(client);
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect(this.target);
    } catch {
      return this.#drop(client);
    }
    if (!this.#open.has(client)) return upstream.close(); // cut while connecting
    this.#open.add(upstream);
    const dropBoth = () => (this.#drop(client), this.#drop(upstream));
    await Promise.all([
      pipe(client, upstream).finally(dropBoth),
      pipe(upstream, client).finally(dropBoth),
    ]);
  }

  #drop(conn: Deno.Conn): void {
    if (this.#open.delete(conn)) conn.close();
  }
}

async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (let n = await from.read(buffer); n !== null; n = await from.read(buffer)) {
      for (let sent = 0; sent < n;) sent += await to.write(buffer.subarray(sent, n));
    }
  } catch {
    // One side was closed: the relay was cut.
  }
}

/** Runs the example; see the module doc. */
export async function main(options: ExampleOptions = {}): Promise<void> {
  const log = options.log ?? console.log;
  const rabbitMQConfig = exampleRabbitMQConfig(options, "examples.outage");
  const brokerUrl = new URL(rabbitMQConfig.urls[0]);
  await using relay = new Relay({
    hostname: brokerUrl.hostname,
    port: Number(brokerUrl.port || 5672),
  });
  const relayUrl = new URL(brokerUrl);
  relayUrl.hostname = "127.0.0.1";
  relayUrl.port = String(relay.port);

  await using inbox = await Inbox.open(rabbitMQConfig);
  const storageDir = await Deno.makeTempDir({ prefix: "rabbitmq-publisher-outage-" });
  try {
    const publisher = await createRabbitMQAsyncEventPublisher({
      ...rabbitMQConfig,
      urls: [relayUrl.href],
      reconnectBaseDelay: 100,
      reconnectMaxDelay: 400,
    }, {
      flushInterval: 100,
      bufferConfig: {
        maxBufferSize: 100,
        enablePersistence: true,
        persistentStoragePath: `${storageDir}/event-buffer`,
        flushBatchSize: 10,
      },
    }, { logger: exampleLogger(log) });
    try {
      await runOutage(publisher, relay, inbox, storageDir, log);
    } finally {
      const report = await publisher.close();
      log(`Closed: ${report.remaining} events remaining.`);
    }
  } finally {
    await Deno.remove(storageDir, { recursive: true });
  }
}

async function runOutage(
  publisher: RabbitMQAsyncEventPublisher,
  relay: Relay,
  inbox: Inbox,
  storageDir: string,
  log: (line: string) => void,
): Promise<void> {
  const sent: DomainEvent[] = [];
  const before = Array.from({ length: 5 }, (_, i) => sampleEvent("chat.message.sent", { n: i }));
  await publisher.publishBatch(before);
  sent.push(...before);
  await publisher.flush();
  await inbox.waitFor(before.map((event) => event.id));
  log(`Broker reachable: published ${before.length} events, all delivered.`);

  relay.cut();
  log("Cut the connection between the publisher and RabbitMQ.");
  await waitUntil(() => !publisher.isRabbitMQAvailable, "the publisher to notice the outage");
  log(`The publisher noticed: RabbitMQ is ${publisher.getStats().connectionState}.`);

  const alert = sampleEvent("recording.failed", { recordingId: "123" }, "high");
  const receipt = await publisher.publish(alert);
  sent.push(alert);
  log(`Published high-priority recording.failed during the outage: status "${receipt.status}".`);

  for (let second = 1; second <= 3; second++) {
    const events = Array.from(
      { length: 15 },
      (_, i) => sampleEvent("chat.message.sent", { n: sent.length + i }),
    );
    const receipts = await publisher.publishBatch(events);
    sent.push(...events);
    const buffer = publisher.getEventBuffer().getStats();
    log(
      `  ${second} s: published ${receipts.length} more (all "${receipts[0].status}"); ` +
        `buffer ${buffer.size}/${buffer.maxSize} events, ${buffer.utilizationPercent}% full.`,
    );
    if (second < 3) await sleep(1_000);
  }
  const buffer = publisher.getEventBuffer().getStats();
  log(
    `${buffer.size} events wait ${buffer.persistent ? "on disk" : "in memory"} ` +
      `(${await directorySize(storageDir)} bytes of Deno KV in ${storageDir}); ` +
      `a crash now would not lose them.`,
  );
  const health = publisher.getHealth();
  log(`Healthy: ${health.healthy}; connection check: ${health.checks.connection.reason}.`);

  relay.restore();
  const restoredAt = Date.now();
  log("Restored the connection; the publisher reconnects and drains the buffer:");
  let last = -1;
  await waitUntil(() => {
    const size = publisher.getEventBuffer().getStats().size;
    if (size !== last) {
      log(`  after ${Date.now() - restoredAt} ms: ${size} events pending.`);
      last = size;
    }
    return size === 0;
  }, "the buffer to drain");
  // Waits for the last confirms to be counted, not only removed from the buffer.
  await publisher.flush();
  await inbox.waitFor(sent.map((event) => event.id));
  const stats = publisher.getStats();
  log(
    `The consumer received all ${sent.length} events; ${stats.publishedEvents} confirmed by ` +
      `RabbitMQ, ${stats.bufferStats.size} pending, ${stats.deadLetteredEvents} dead-lettered.`,
  );
}

async function directorySize(path: string): Promise<number> {
  let total = 0;
  for await (const entry of Deno.readDir(path)) {
    if (entry.isFile) total += (await Deno.stat(`${path}/${entry.name}`)).size;
  }
  return total;
}

if (import.meta.main) await runExample(main);
