import assert from "node:assert/strict";
import { BROKER_URL, TestConsumer, testEvent } from "../_broker.ts";
import { until } from "../_wait.ts";
import {
  type AsyncPublishConfig,
  createRabbitMQAsyncEventPublisher,
  type PublisherStats,
  type RabbitMQAsyncEventPublisher,
} from "../../mod.ts";
import { createStatusHandler, type StatusHandlerOptions } from "../../status.ts";
import { parseExposition, sampleValue } from "./_parse_exposition.ts";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
// The test broker's password is "guest": no response may carry "guest:guest".
const PASSWORD_IN_URL = /guest:guest@/;

async function withPublisher(
  url: string,
  exchange: string,
  config: AsyncPublishConfig,
  run: (publisher: RabbitMQAsyncEventPublisher) => Promise<void>,
): Promise<void> {
  const publisher = await createRabbitMQAsyncEventPublisher({ url, exchange }, config, {
    logger: quiet,
  });
  try {
    await run(publisher);
  } finally {
    await publisher.close({ timeoutMs: 2_000 });
  }
}

async function get(
  handler: (request: Request) => Response | Promise<Response>,
  path: string,
  init?: RequestInit,
): Promise<{ status: number; headers: Headers; body: string }> {
  const response = await handler(new Request(`http://status.test${path}`, init));
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/** Publishes `count` routable events and one unroutable, and waits until all is settled. */
async function publishAndSettle(
  publisher: RabbitMQAsyncEventPublisher,
  consumer: TestConsumer,
  count: number,
  unroutableId: string,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    await publisher.publish(testEvent(i, i % 4 === 0 ? "high" : "normal"));
  }
  const lost = { ...testEvent(99, "high", "nobody.listens"), id: unroutableId };
  assert.deepEqual((await publisher.publish(lost)).status, "dead-lettered");
  await consumer.waitFor(count);
  await publisher.flush();
  // Settled: everything confirmed, and the dead letter moved to the broker's queue.
  await until(() => {
    const stats = publisher.getStats();
    return stats.publishedEvents === count && stats.bufferStats.localDeadLetters === 0;
  }, "every event confirmed and the dead letter shipped");
}

function expectedSamples(stats: PublisherStats): [string, Record<string, string>, number][] {
  const b = stats.bufferStats;
  return [
    ["rabbitmq_publisher_published_events_total", {}, stats.publishedEvents],
    ["rabbitmq_publisher_failed_attempts_total", { sent: "false" }, stats.neverSentFailures],
    ["rabbitmq_publisher_failed_attempts_total", { sent: "true" }, stats.unknownOutcomeFailures],
    ["rabbitmq_publisher_retries_total", {}, stats.retriedEvents],
    ["rabbitmq_publisher_resent_events_total", {}, stats.resentEvents],
    ["rabbitmq_publisher_deduplicated_events_total", {}, stats.deduplicatedEvents],
    ["rabbitmq_publisher_dead_lettered_events_total", {}, stats.deadLetteredEvents],
    ["rabbitmq_publisher_expired_events_total", {}, b.expiredEvents],
    ["rabbitmq_publisher_evicted_events_total", {}, b.droppedEvents],
    ["rabbitmq_publisher_pending_events", { priority: "high" }, b.byPriority.high],
    ["rabbitmq_publisher_pending_events", { priority: "normal" }, b.byPriority.normal],
    ["rabbitmq_publisher_pending_events", { priority: "low" }, b.byPriority.low],
    ["rabbitmq_publisher_pending_bytes", {}, b.bytes],
    ["rabbitmq_publisher_buffer_capacity_events", {}, b.maxSize],
    ["rabbitmq_publisher_buffer_capacity_bytes", {}, b.maxBytes],
    ["rabbitmq_publisher_buffer_utilization_ratio", {}, b.utilizationPercent / 100],
    ["rabbitmq_publisher_in_flight_events", {}, stats.inFlightEvents],
    ["rabbitmq_publisher_queued_events", {}, stats.queuedEvents],
    ["rabbitmq_publisher_buffered_events", {}, stats.bufferedEvents],
    ["rabbitmq_publisher_oldest_pending_event_age_seconds", {}, b.oldestEventAgeMs / 1000],
    ["rabbitmq_publisher_local_dead_letters", {}, b.localDeadLetters],
    ["rabbitmq_publisher_persistent", {}, b.persistent ? 1 : 0],
    ["rabbitmq_publisher_active_batches", {}, stats.activeOperations],
    ["rabbitmq_publisher_peak_active_batches", {}, stats.peakActiveOperations],
    ["rabbitmq_publisher_broker_available", {}, stats.isRabbitMQAvailable ? 1 : 0],
    ["rabbitmq_publisher_connection_state", { state: stats.connectionState }, 1],
    ["rabbitmq_publisher_reconnect_attempts", {}, stats.reconnectAttempts],
    ["rabbitmq_publisher_circuit_state", { state: stats.circuitState }, 1],
  ];
}

Deno.test("/metrics exposes the same figures as getStats(), with # HELP and # TYPE for each", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: "test.#" });
  const unroutable = `lost-${crypto.randomUUID().slice(0, 8)}`;
  await withPublisher(BROKER_URL, consumer.exchange, { flushInterval: 20 }, async (publisher) => {
    const handler = createStatusHandler(publisher);
    await publishAndSettle(publisher, consumer, 12, unroutable);
    const before = publisher.getStats();
    const response = await get(handler, "/metrics");
    const after = publisher.getStats();
    assert.deepEqual(response.status, 200);
    assert.deepEqual(
      response.headers.get("content-type"),
      "text/plain; version=0.0.4; charset=utf-8",
    );
    const families = parseExposition(response.body);
    for (const family of families.values()) {
      assert.ok(family.help.length > 0, `${family.name} has a # HELP text`);
      assert.ok(["counter", "gauge"].includes(family.type), `${family.name} has a # TYPE`);
      assert.ok(family.name.startsWith("rabbitmq_publisher_"), family.name);
      if (family.type === "counter") assert.match(family.name, /_total$/);
    }
    // Settled, so nothing moves between the two reads but the clock.
    assert.deepEqual({ ...before, msSinceLastConfirm: 0 }, { ...after, msSinceLastConfirm: 0 });
    for (const [name, labels, value] of expectedSamples(after)) {
      assert.deepEqual(
        sampleValue(families, name, labels),
        value,
        `${name}${JSON.stringify(labels)}`,
      );
    }
    assert.deepEqual(after.publishedEvents, 12);
    assert.deepEqual(after.deadLetteredEvents, 1);
    assert.ok(after.failedEvents >= 1);
    // One state is current; every other one is listed at 0.
    const states = families.get("rabbitmq_publisher_connection_state")!.samples;
    assert.deepEqual(states.filter((s) => s.value === 1).map((s) => s.labels.state), ["connected"]);
    assert.deepEqual(states.length, 5);
    const sinceConfirm = sampleValue(families, "rabbitmq_publisher_seconds_since_last_confirm");
    assert.ok(
      sinceConfirm >= before.msSinceLastConfirm! / 1000 &&
        sinceConfirm <= after.msSinceLastConfirm! / 1000,
      `${sinceConfirm} s since the last confirm`,
    );
    assert.deepEqual(
      sampleValue(families, "rabbitmq_publisher_last_error_timestamp_seconds", {
        name: after.lastError!.name,
      }),
      after.lastError!.at / 1000,
    );
    const health = publisher.getHealth();
    for (const [check, { ok }] of Object.entries(health.checks)) {
      assert.deepEqual(
        sampleValue(families, "rabbitmq_publisher_health_check", { check }),
        ok ? 1 : 0,
      );
    }
    assert.deepEqual(sampleValue(families, "rabbitmq_publisher_healthy"), health.healthy ? 1 : 0);
    assert.deepEqual(sampleValue(families, "rabbitmq_publisher_ready"), 1);
    assert.doesNotMatch(response.body, PASSWORD_IN_URL);
  });
});

Deno.test("/readyz answers 503 with the failing intake check once close() began", async () => {
  await using consumer = await TestConsumer.start();
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    {},
    { logger: quiet },
  );
  const handler = createStatusHandler(publisher);
  let closing: Promise<unknown> | undefined;
  try {
    const ready = await get(handler, "/readyz");
    assert.deepEqual(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.body), {
      ready: true,
      checks: { intake: { ok: true }, buffer: { ok: true } },
    });
    closing = publisher.close();
    const whileClosing = await get(handler, "/readyz");
    assert.deepEqual(whileClosing.status, 503);
    assert.deepEqual(JSON.parse(whileClosing.body), {
      ready: false,
      checks: {
        intake: { ok: false, reason: "the publisher is closing" },
        buffer: { ok: true },
      },
    });
    const metrics = parseExposition((await get(handler, "/metrics")).body);
    assert.deepEqual(sampleValue(metrics, "rabbitmq_publisher_ready"), 0);
    // Liveness stays: the process still answers.
    assert.deepEqual((await get(handler, "/healthz")).status, 200);
    await closing;
    const closed = await get(handler, "/readyz");
    assert.deepEqual(closed.status, 503);
    assert.deepEqual(JSON.parse(closed.body).checks.intake.reason, "the publisher is closed");
  } finally {
    await (closing ?? publisher.close());
  }
});

Deno.test("/readyz answers 503 while the buffer is full, and 200 again once it drains", async () => {
  await using consumer = await TestConsumer.start();
  const config = { enableBackgroundProcessing: false, bufferConfig: { maxBufferSize: 3 } };
  await withPublisher(BROKER_URL, consumer.exchange, config, async (publisher) => {
    const handler = createStatusHandler(publisher);
    await publisher.publishBatch([testEvent(1), testEvent(2), testEvent(3)]);
    const full = await get(handler, "/readyz");
    assert.deepEqual(full.status, 503);
    const verdict = JSON.parse(full.body);
    assert.deepEqual(verdict.ready, false);
    assert.deepEqual(verdict.checks.intake, { ok: true });
    assert.deepEqual(verdict.checks.buffer.ok, false);
    assert.match(
      verdict.checks.buffer.reason,
      /^the buffer is full \(3\/3 events, \d+\/\d+ bytes\)$/,
    );
    assert.deepEqual(await publisher.flush(), 0);
    await consumer.waitFor(3);
    assert.deepEqual((await get(handler, "/readyz")).status, 200);
  });
});

Deno.test("the handler answers GET and HEAD only, under its base path, and 404 elsewhere", async () => {
  await using consumer = await TestConsumer.start();
  await withPublisher(BROKER_URL, consumer.exchange, {}, async (publisher) => {
    const handler = createStatusHandler(publisher, { basePath: "/ops" });
    const live = await get(handler, "/ops/healthz");
    assert.deepEqual([live.status, JSON.parse(live.body)], [200, { status: "ok" }]);
    assert.deepEqual(live.headers.get("cache-control"), "no-store");
    const head = await get(handler, "/ops/metrics", { method: "HEAD" });
    assert.deepEqual([head.status, head.body], [200, ""]);
    assert.match(head.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const post = await get(handler, "/ops/readyz", { method: "POST" });
    assert.deepEqual([post.status, post.headers.get("allow")], [405, "GET, HEAD"]);
    assert.deepEqual((await get(handler, "/healthz")).status, 404);
    assert.deepEqual((await get(handler, "/ops/nothing")).status, 404);
    assert.deepEqual((await get(handler, "/opsx/healthz")).status, 404);
    const page = await get(handler, "/ops");
    assert.deepEqual(page.status, 200);
    assert.match(page.body, /href="\/ops\/metrics"/);
    assert.match(page.body, /data-fragment="\/ops\/\?fragment=main"/);
  });
});

Deno.test("createStatusHandler() names the bad option and value", () => {
  const publisher = {} as RabbitMQAsyncEventPublisher;
  const bad = (options: StatusHandlerOptions, message: RegExp) =>
    assert.throws(() => createStatusHandler(publisher, options), message);
  bad({ basePath: "ops" }, /'basePath' must start with "\/" and not end with one: got "ops"/);
  bad({ basePath: "/ops/" }, /'basePath' .* got "\/ops\/"/);
  bad({ deadLetterLimit: -1 }, /'deadLetterLimit' must be an integer of at least 0: got -1/);
  bad({ sampleIntervalMs: 0 }, /'sampleIntervalMs' must be an integer of at least 1: got 0/);
  bad({ sampleCount: 1.5 }, /'sampleCount' must be an integer of at least 2: got 1.5/);
  bad({ refreshMs: NaN }, /'refreshMs' must be an integer of at least 0: got NaN/);
  bad({ title: 7 as unknown as string }, /'title' must be a string: got number/);
});

Deno.test("the page and /status.json show the live figures and the dead letters, escaped, with no password", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: "test.#" });
  const unroutable = `<b>"lost"&${crypto.randomUUID().slice(0, 6)}</b>`;
  await withPublisher(BROKER_URL, consumer.exchange, { flushInterval: 20 }, async (publisher) => {
    let clock = Date.now();
    const handler = createStatusHandler(publisher, { sampleIntervalMs: 1_000, now: () => clock });
    await publishAndSettle(publisher, consumer, 8, unroutable);
    clock += 4_000; // four seconds of samples: 8 confirmed in 4 s
    const page = await get(handler, "/");
    assert.deepEqual(page.status, 200);
    assert.deepEqual(page.headers.get("content-type"), "text/html; charset=utf-8");
    const nonce = /script-src 'nonce-([0-9a-f]{32})'/.exec(
      page.headers.get("content-security-policy") ?? "",
    )?.[1];
    assert.ok(nonce, "the CSP carries a nonce");
    assert.match(page.body, new RegExp(`<script nonce="${nonce}">`));
    assert.match(page.body, /data-metric="counters\.published" data-value="8">8</);
    assert.match(page.body, /data-metric="connection\.state" data-value="connected"/);
    assert.match(page.body, /data-metric="throughput\.publishedPerSecond" data-value="2">2\.0\/s/);
    assert.match(page.body, /<code>amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5672<\/code>/);
    // The dead letter's id is shown escaped, never as markup.
    assert.ok(!page.body.includes(unroutable), "the raw id is not in the page");
    assert.match(page.body, /<code>&#60;b&#62;&#34;lost&#34;&#38;[0-9a-f]{6}&#60;\/b&#62;<\/code>/);
    assert.match(page.body, /<td>nobody\.listens<\/td><td>unroutable<\/td>/);

    const fragment = await get(handler, "/?fragment=main");
    assert.ok(fragment.body.startsWith(`<section id="summary"`), fragment.body.slice(0, 80));
    assert.ok(!fragment.body.includes("<script"));

    const json = JSON.parse((await get(handler, "/status.json")).body);
    assert.deepEqual(json.counters.published, 8);
    assert.deepEqual(json.connection.brokerUrl, "amqp://guest:***@127.0.0.1:5672");
    assert.deepEqual(json.deadLetters.status, "listed");
    const letter = json.deadLetters.items.find((l: { id: string }) => l.id === unroutable);
    assert.deepEqual([letter?.reason, letter?.location, letter?.type], [
      "unroutable",
      "broker",
      "nobody.listens",
    ]);
    for (const body of [page.body, fragment.body, JSON.stringify(json)]) {
      assert.doesNotMatch(body, PASSWORD_IN_URL);
    }
    await consumer.drainDeadLetters();
  });
});

Deno.test("the page lists the local dead letters, with a note, when the broker is unreachable", async () => {
  const exchange = `status.offline.${crypto.randomUUID().slice(0, 8)}`;
  const config: AsyncPublishConfig = {
    bufferConfig: { maxBufferSize: 2, overflowPolicy: "drop-oldest-lowest-priority" },
  };
  // Nothing listens on port 1: every connection attempt is refused at once.
  await withPublisher("amqp://ops:s3cret@127.0.0.1:1", exchange, config, async (publisher) => {
    const handler = createStatusHandler(publisher);
    const first = testEvent(1, "low");
    assert.deepEqual((await publisher.publish(first)).status, "buffered");
    // A broker outage does not make the publisher unready: it buffers through it.
    assert.deepEqual((await get(handler, "/readyz")).status, 200);
    await publisher.publish(testEvent(2));
    await publisher.publish(testEvent(3)); // evicts the first, the oldest of the lowest priority
    assert.deepEqual(publisher.getStats().bufferStats.localDeadLetters, 1);
    const json = JSON.parse((await get(handler, "/status.json")).body);
    assert.deepEqual(json.deadLetters.status, "local-only");
    assert.match(json.deadLetters.note, /^the broker's dead-letter queue could not be read: /);
    assert.deepEqual(
      json.deadLetters.items.map((l: { id: string; reason: string }) => [l.id, l.reason]),
      [[first.id, "evicted"]],
    );
    assert.deepEqual(json.connection.state === "connected", false);
    assert.deepEqual(json.healthy, false);
    const page = await get(handler, "/");
    assert.match(page.body, /could not be read/);
    assert.match(page.body, new RegExp(`data-dead-letter="${first.id}"`));
    const ready = JSON.parse((await get(handler, "/readyz")).body);
    assert.deepEqual([ready.checks.intake.ok, ready.checks.buffer.ok], [true, false]);
    for (const body of [page.body, JSON.stringify(json)]) assert.doesNotMatch(body, /s3cret/);
  });
});
