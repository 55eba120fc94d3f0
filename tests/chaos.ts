// Chaos test against the REAL broker: `rabbitmqctl stop_app` / `start_app`,
// twice, while 10,000 events are being published; every event must reach the
// queue (duplicates allowed, counted). It stops the shared broker, so it is not
// a `_test.ts` file: only `deno task test:chaos` runs it. Whatever happens, the
// broker is started again in `finally`.

import assert from "node:assert/strict";
import { AMQPClient } from "@cloudamqp/amqp-client";
import { BROKER_URL, testEvent, uniqueName } from "./_broker.ts";
import {
  createRabbitMQAsyncEventPublisher,
  type PublishStatus,
  type RabbitMQAsyncEventPublisher,
} from "../mod.ts";
import { poll, sleep } from "./_wait.ts";
import { problemLines, recordingLogger } from "./_logger.ts";
import { run } from "./_run.ts";

const EVENT_COUNT = 10_000;
const CHUNK = 100;
// Long enough that both restarts (each stop_app/start_app takes a few seconds)
// fall inside the publishing window.
const PUBLISH_MS = 14_000;
const SETTLE_TIMEOUT_MS = 90_000;
const BROKER_READY_TIMEOUT_MS = 60_000;
const QUIET_MS = 1_000;

async function rabbitmqctl(action: "stop_app" | "start_app"): Promise<void> {
  const { ok, output } = await run("rabbitmqctl", [action]);
  if (!ok) throw new Error(`rabbitmqctl ${action} failed: ${output}`);
}

async function appRunning(): Promise<boolean> {
  return (await run("rabbitmq-diagnostics", ["-q", "check_running"])).ok;
}

async function amqpAnswers(): Promise<boolean> {
  const client = new AMQPClient(BROKER_URL);
  try {
    await client.connect();
  } catch {
    return false;
  }
  await client.close().catch(() => {});
  return true;
}

/** Waits until the app runs and accepts an AMQP connection; throws after `timeoutMs`. */
async function waitForBroker(timeoutMs = BROKER_READY_TIMEOUT_MS): Promise<void> {
  const started = Date.now();
  while (!(await appRunning()) || !(await amqpAnswers())) {
    if (Date.now() - started > timeoutMs) {
      throw new Error(`RabbitMQ did not answer within ${timeoutMs} ms`);
    }
    await sleep(500);
  }
}

/** Starts the RabbitMQ app when it is stopped, and waits until it answers. */
async function ensureBrokerRunning(): Promise<void> {
  if (!(await appRunning())) {
    console.log("chaos: restoring the broker (rabbitmqctl start_app)");
    const { ok, output } = await run("rabbitmqctl", ["start_app"]);
    if (!ok) console.error(`rabbitmqctl start_app failed: ${output}`);
  }
  await waitForBroker();
}

interface Step {
  at: number;
  what: string;
}

/**
 * stop_app → 3 s → start_app → 2 s → stop_app → 3 s → start_app, after 2 s.
 * Returns the error instead of rejecting, so a failure is never unhandled
 * while the publishing loop runs.
 */
async function chaos(signal: AbortSignal, t0: number, steps: Step[]): Promise<Error | undefined> {
  const mark = (what: string) => steps.push({ at: Math.round(performance.now() - t0), what });
  try {
    await sleep(2_000, signal);
    for (let round = 1; round <= 2 && !signal.aborted; round++) {
      mark(`stop_app ${round} begins`);
      await rabbitmqctl("stop_app");
      mark(`stop_app ${round} done`);
      await sleep(3_000, signal);
      mark(`start_app ${round} begins`);
      await rabbitmqctl("start_app");
      await waitForBroker();
      mark(`broker ${round} answers`);
      if (round === 1) await sleep(2_000, signal);
    }
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/**
 * Consumes `queue` until every expected id has arrived and the queue stayed
 * empty for a moment (so late duplicates are counted too), or `timeoutMs`.
 */
async function readQueue(
  queue: string,
  expected: ReadonlySet<string>,
  timeoutMs: number,
): Promise<{ counts: Map<string, number>; total: number; unknown: number }> {
  const counts = new Map<string, number>();
  let total = 0;
  let unknown = 0;
  let lastMessageAt = Date.now();
  const client = new AMQPClient(BROKER_URL);
  await client.connect();
  try {
    const ch = await client.channel();
    const consumer = await ch.basicConsume(queue, { noAck: true }, (msg) => {
      total++;
      lastMessageAt = Date.now();
      const id = msg.properties.messageId;
      if (id === undefined || !expected.has(id)) unknown++;
      else counts.set(id, (counts.get(id) ?? 0) + 1);
    });
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
      await sleep(200);
      if (counts.size < expected.size || Date.now() - lastMessageAt < QUIET_MS) continue;
      const { messageCount } = await ch.queueDeclare(queue, { passive: true });
      if (messageCount === 0) break;
    }
    await consumer.cancel();
  } finally {
    await client.close();
  }
  return { counts, total, unknown };
}

async function declareTopology(exchange: string, queue: string): Promise<void> {
  const client = new AMQPClient(BROKER_URL);
  await client.connect();
  try {
    const ch = await client.channel();
    await ch.exchangeDeclare(exchange, "topic", { durable: true });
    // Durable and not exclusive: it must outlive stop_app and this connection.
    await ch.queueDeclare(queue, { durable: true, exclusive: false, autoDelete: false });
    await ch.queueBind(queue, exchange, "#");
  } finally {
    await client.close();
  }
}

async function deadLetterCount(queue: string): Promise<number> {
  const client = new AMQPClient(BROKER_URL);
  await client.connect();
  try {
    const ch = await client.channel();
    return (await ch.queueDeclare(queue, { passive: true })).messageCount;
  } catch {
    return 0;
  } finally {
    await client.close().catch(() => {});
  }
}

async function deleteTopology(exchange: string, queues: string[]): Promise<void> {
  const client = new AMQPClient(BROKER_URL);
  await client.connect();
  try {
    for (const name of queues) {
      const ch = await client.channel();
      await ch.queueDelete(name).catch(() => {});
    }
    for (const name of [exchange, `${exchange}.dead-letter`]) {
      const ch = await client.channel();
      await ch.exchangeDelete(name).catch(() => {});
    }
  } finally {
    await client.close().catch(() => {});
  }
}

async function restartsDuringPublishing(persistence: boolean): Promise<void> {
  const variant = persistence ? "kv" : "memory";
  const exchange = uniqueName("chaos");
  const queue = uniqueName("chaos.q");
  const deadLetterQueue = `${exchange}.dead-letter`;
  const logger = recordingLogger();
  const steps: Step[] = [];
  const stopChaos = new AbortController();
  // An unhandled rejection would end the test module at once, skipping the
  // `finally` that restarts the broker: record it, and fail the test instead.
  const unhandled: string[] = [];
  const onUnhandled = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    const reason = event.reason;
    unhandled.push(reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason));
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  let chaosTask: Promise<Error | undefined> | undefined;
  let sampler: ReturnType<typeof setInterval> | undefined;
  let publisher: RabbitMQAsyncEventPublisher | undefined;
  const dir = persistence ? await Deno.makeTempDir({ prefix: "chaos-kv-" }) : undefined;
  try {
    await ensureBrokerRunning();
    await declareTopology(exchange, queue);
    publisher = await createRabbitMQAsyncEventPublisher(
      { url: BROKER_URL, exchange, reconnectBaseDelay: 200, reconnectMaxDelay: 2_000 },
      {
        flushInterval: 100,
        publishTimeout: 5_000,
        retry: { maxRetries: 50, baseDelay: 200, maxDelay: 2_000 },
        circuitBreaker: { resetTimeout: 1_000 },
        bufferConfig: {
          maxBufferSize: 50_000,
          enablePersistence: persistence,
          ...(dir ? { persistentStoragePath: `${dir}/pending.kv` } : {}),
        },
      },
      { logger, requireConnection: true },
    );
    const watched = publisher;

    let reconnects = 0;
    let disconnects = 0;
    let maxBuffer = 0;
    let wasConnected = true;
    sampler = setInterval(() => {
      const stats = watched.getStats();
      maxBuffer = Math.max(maxBuffer, stats.bufferStats.size);
      const connected = stats.connectionState === "connected";
      if (connected && !wasConnected) reconnects++;
      if (!connected && wasConnected) disconnects++;
      wasConnected = connected;
    }, 20);

    const events = Array.from({ length: EVENT_COUNT }, (_, i) => testEvent(i));
    const expected = new Set(events.map((e) => e.id));
    const statuses: Record<PublishStatus, number> = {
      confirmed: 0,
      queued: 0,
      buffered: 0,
      "dead-lettered": 0,
    };
    const t0 = performance.now();
    chaosTask = chaos(stopChaos.signal, t0, steps);
    const chunks = EVENT_COUNT / CHUNK;
    for (let c = 0; c < chunks; c++) {
      await sleep(t0 + (c * PUBLISH_MS) / chunks - performance.now());
      const receipts = await publisher.publishBatch(events.slice(c * CHUNK, (c + 1) * CHUNK));
      for (const receipt of receipts) statuses[receipt.status]++;
    }
    const publishedAt = Math.round(performance.now() - t0);
    const chaosError = await chaosTask;
    if (chaosError) throw chaosError;

    // Drained, and back on the broker: when the broker is slow to start, the
    // last outage may come after the last event went, with nothing to drain.
    const drained = await poll(() => {
      const { bufferStats, connectionState } = watched.getStats();
      return bufferStats.size === 0 && connectionState === "connected";
    }, SETTLE_TIMEOUT_MS);
    const drainedAt = Math.round(performance.now() - t0);
    clearInterval(sampler);
    sampler = undefined;
    const stats = publisher.getStats();
    const { counts, total, unknown } = await readQueue(
      queue,
      expected,
      drained ? 30_000 : 5_000,
    );
    const missing = events.filter((e) => !counts.has(e.id)).map((e) => e.id);
    const duplicates = total - unknown - counts.size;
    const dlq = await deadLetterCount(deadLetterQueue);

    console.log(
      `chaos timeline [${variant}]: ${steps.map((s) => `${s.at}ms ${s.what}`).join(", ")}; ` +
        `publishing ended at ${publishedAt}ms, buffer empty at ${drainedAt}ms`,
    );
    console.log(
      `chaos summary [${variant}]: published=${EVENT_COUNT} received=${total} ` +
        `duplicates=${duplicates} missing=${missing.length} unknown=${unknown} ` +
        `reconnects=${reconnects} disconnects=${disconnects} maxBuffer=${maxBuffer} ` +
        `receipts=${JSON.stringify(statuses)} confirmedByBroker=${stats.publishedEvents} ` +
        `failedAttempts=${stats.failedEvents} unknownOutcome=${stats.unknownOutcomeFailures} ` +
        `retried=${stats.retriedEvents} deadLettered=${stats.deadLetteredEvents} dlq=${dlq} ` +
        `pendingLeft=${stats.bufferStats.size} unhandledRejections=${unhandled.length}`,
    );
    if (unhandled.length > 0) {
      console.log(
        `unhandled rejections (first 3): ${[...new Set(unhandled)].slice(0, 3).join(" | ")}`,
      );
    }
    if (missing.length > 0 || !drained || stats.deadLetteredEvents > 0) {
      const logLines = problemLines(logger);
      console.log(`publisher warnings/errors (${logLines.length}):`);
      for (const line of logLines.slice(0, 40)) console.log(`  ${line}`);
      console.log(`missing ids (first 20): ${missing.slice(0, 20).join(", ")}`);
      console.log(`final stats: ${JSON.stringify(stats)}`);
    }

    assert.equal(missing.length, 0, `${missing.length} of ${EVENT_COUNT} events missing`);
    assert(
      drained,
      `after the chaos, ${stats.bufferStats.size} events were left and the connection was ${stats.connectionState}`,
    );
    assert.equal(stats.deadLetteredEvents, 0, "no event may be dead-lettered");
    assert.equal(unknown, 0, "only this run's events reach the queue");
    assert(disconnects >= 2, `the publisher noticed ${disconnects} of the 2 outages`);
    assert(reconnects >= 2, `the publisher reconnected ${reconnects} times`);
    assert.equal(stats.connectionState, "connected");
    assert.equal(unhandled.length, 0, `${unhandled.length} unhandled promise rejections`);
    const report = await publisher.close();
    publisher = undefined;
    assert.equal(report.remaining, 0);
  } finally {
    stopChaos.abort();
    await chaosTask;
    clearInterval(sampler);
    await ensureBrokerRunning();
    await publisher?.close({ timeoutMs: 5_000 });
    await deleteTopology(exchange, [queue, deadLetterQueue]);
    if (dir) await Deno.remove(dir, { recursive: true });
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
}

Deno.test("10,000 events in the memory store all arrive through two broker restarts", async () => {
  await restartsDuringPublishing(false);
});

Deno.test("10,000 events in Deno KV all arrive through two broker restarts", async () => {
  await restartsDuringPublishing(true);
});
