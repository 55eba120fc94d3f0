/**
 * Benchmarks of the publisher against the local RabbitMQ, each figure also
 * given as a ratio to the raw `@cloudamqp/amqp-client` measured in the same
 * run, so that machines of different speeds can be compared.
 *
 * ```sh
 * deno task bench                      # 50,000 events, 3 runs after a warm-up
 * deno task bench --events 10000 --runs 5
 * deno task bench --smoke              # a few hundred events, 1 run, no JSON
 * deno task bench --only memory,drain  # a subset (the baseline always runs)
 * ```
 *
 * Results go to `bench/results/<date>.json` and `bench/results/latest.json`.
 * Heap figures need a garbage collector to call: when this process was not
 * started with `--v8-flags=--expose-gc`, the memory scenario runs in a child
 * process that is.
 *
 * @module
 */

import { type AMQPChannel, AMQPClient } from "@cloudamqp/amqp-client";
import {
  AmqpTransport,
  type AsyncPublishConfig,
  type ConnectionStateChange,
  createRabbitMQAsyncEventPublisher,
  type DomainEvent,
  encodeEvent,
  type EventPriority,
  type RabbitMQAsyncEventPublisher,
} from "../mod.ts";
import { TcpProxy } from "../tests/_proxy.ts";

/** Options of {@linkcode runBenchmarks}. */
export interface BenchOptions {
  /** Events per scenario. @default {50000, or 300 with `smoke`} */
  events?: number;
  /** Measured runs per scenario. @default {3, or 1 with `smoke`} */
  runs?: number;
  /** A quick run: few events, one run, no warm-up, no JSON unless `out` is given. */
  smoke?: boolean;
  /** Where to write the JSON (a directory gets `<date>.json` and `latest.json`). */
  out?: string;
  /** Scenario groups to run (baseline always runs); all when absent. */
  only?: readonly ScenarioGroup[];
  /** Events buffered in the memory scenario. @default {100000, or `events` with `smoke`} */
  memoryEvents?: number;
  /** The broker. @default {"amqp://guest:guest@127.0.0.1:5672" or $BENCH_RABBITMQ_URL} */
  url?: string;
  /** Progress lines. @default {console.error, silent with `smoke`} */
  log?: (line: string) => void;
}

/** The scenario groups. */
export type ScenarioGroup =
  | "memory"
  | "kv"
  | "high"
  | "drain"
  | "latency"
  | "heap";

/** One figure, measured once per run. */
export interface Metric {
  /** Stable id, for comparing result files. */
  id: string;
  /** The scenario group it belongs to (`baseline` for the raw client). */
  group: ScenarioGroup | "baseline";
  /** What it measures. */
  label: string;
  /** `events/s`, `ms` or `B/event`. */
  unit: string;
  /** Whether a larger figure is better. */
  higherIsBetter: boolean;
  /** Events per run. */
  events: number;
  /** One figure per measured run. */
  runs: number[];
  /** Median of the runs. */
  median: number;
  /** Smallest run. */
  min: number;
  /** Largest run. */
  max: number;
  /** Median, min and max divided by the baseline's median (throughputs only). */
  ratio?: { median: number; min: number; max: number };
  /** The target, if any, and whether the median meets it. */
  target?: { text: string; met: boolean };
}

/** What {@linkcode runBenchmarks} returns (and writes as JSON). */
export interface Results {
  /** When the run started (ISO 8601). */
  date: string;
  /** Runtime versions and machine. */
  environment: { deno: string; v8: string; os: string; cpus: number; gcExposed: boolean };
  /** The options the run used. */
  options: { events: number; runs: number; warmUp: boolean; memoryEvents: number };
  /** Every figure. */
  metrics: Metric[];
  /** Wall time of the whole run, in ms. */
  totalMs: number;
}

const DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672";
const GROUPS: readonly ScenarioGroup[] = ["memory", "kv", "high", "drain", "latency", "heap"];
const EVENT_BYTES = 300;
const WINDOW = 500; // in flight: the baseline's window, and batchSize × maxConcurrency
const BATCH_SIZE = 50;
const MAX_CONCURRENCY = 10;
const HIGH_CALLERS = 100;
const LATENCY_CALLERS = 10;
// The broker confirms only some 5,000-7,000 persistent messages a second on
// this class of machine, so the scenarios after the three headline
// throughputs are capped to keep a full run within about six minutes.
const SLOW_SCENARIO_EVENTS = 20_000;
const KV_LATENCY_EVENTS = 10_000;
const CHILD_PERMISSIONS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-sys",
];

const SILENT = { debug() {}, info() {}, warn() {}, error() {} };

// ---- events ----

let padding: string | undefined;

/** A normal-priority event whose encoded body is {@linkcode EVENT_BYTES} bytes. */
function benchEvent(tag: string, n: number, priority: EventPriority = "normal"): DomainEvent {
  padding ??= calibratePadding();
  return {
    id: `${tag}-${n}`,
    type: "bench.happened",
    version: "1.0",
    timestamp: new Date(),
    data: { n, note: padding },
    metadata: { source: "bench", priority, correlationId: `c-${n}` },
  };
}

function calibratePadding(): string {
  padding = "";
  const probe = (pad: string) => {
    padding = pad;
    return encodeEvent(benchEvent("run00000", 10_000)).bytes;
  };
  const base = probe("");
  padding = "x".repeat(Math.max(0, EVENT_BYTES - base));
  probe(padding);
  return padding;
}

function events(tag: string, count: number, priority?: EventPriority): DomainEvent[] {
  return Array.from({ length: count }, (_, i) => benchEvent(tag, i, priority));
}

// ---- statistics ----

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

// ---- broker fixtures ----

/**
 * Thrown when the broker connection was lost during a measured run (the
 * shared broker may close connections under us): the run is repeated.
 */
class DisturbedRunError extends Error {
  override name = "DisturbedRunError";
}

const DISTURBANCE =
  /CONNECTION_FORCED|ECONNREFUSED|ECONNRESET|connection closed|connection lost|socket closed/i;

function isDisturbance(error: unknown): boolean {
  return error instanceof DisturbedRunError ||
    (error instanceof Error && DISTURBANCE.test(error.message));
}

/** Runs `fn` on a channel of a short-lived connection, so a forced close between runs is harmless. */
async function onAdminChannel(url: string, fn: (channel: AMQPChannel) => Promise<void>) {
  const client = new AMQPClient(url);
  await client.connect();
  try {
    await fn(await client.channel());
  } finally {
    if (!client.closed) await client.close();
  }
}

/** A fresh durable queue bound (`#`) to a fresh durable topic exchange. */
class Topology {
  readonly exchange = `bench.${crypto.randomUUID().slice(0, 8)}`;
  readonly queue = this.exchange;

  private constructor(readonly url: string) {}

  static async create(url: string): Promise<Topology> {
    const topology = new Topology(url);
    await onAdminChannel(url, async (channel) => {
      await channel.exchangeDeclare(topology.exchange, "topic", { durable: true });
      await channel.queueDeclare(topology.queue, { durable: true });
      await channel.queueBind(topology.queue, topology.exchange, "#");
    });
    return topology;
  }

  /** Deletes the queue, the exchange, and the dead-letter pair a publisher declared. */
  async delete(): Promise<void> {
    await onAdminChannel(this.url, async (channel) => {
      await channel.queueDelete(this.queue);
      await channel.exchangeDelete(this.exchange);
      await channel.queueDelete(`${this.exchange}.dead-letter`);
      await channel.exchangeDelete(`${this.exchange}.dead-letter`);
    });
  }
}

interface Context {
  url: string;
  tag: () => string;
}

async function withTopology<T>(ctx: Context, fn: (t: Topology) => Promise<T>): Promise<T> {
  const topology = await Topology.create(ctx.url);
  try {
    return await fn(topology);
  } finally {
    // A second try covers a forced close of the admin connection.
    await topology.delete().catch(() => topology.delete());
  }
}

function publisherConfig(persistence: string | undefined, capacity: number): AsyncPublishConfig {
  return {
    batchSize: BATCH_SIZE,
    maxConcurrency: MAX_CONCURRENCY,
    flushInterval: 5,
    publishTimeout: 60_000,
    bufferConfig: {
      maxBufferSize: capacity,
      maxPersistentSize: capacity * 2 * EVENT_BYTES,
      flushBatchSize: BATCH_SIZE,
      enablePersistence: persistence !== undefined,
      ...(persistence !== undefined ? { persistentStoragePath: `${persistence}/events.kv` } : {}),
    },
  };
}

interface PublisherSetup {
  exchange: string;
  /** The broker URL. @default {the context's} */
  url?: string;
  /** Called on every connection state change, before the publisher hears of it. */
  onState?: (change: ConnectionStateChange) => void;
}

/**
 * Runs `fn` with a publisher (KV in a temporary directory when `kv`), then
 * closes it. A connection lost after the first connect, which the scenario
 * did not cause, fails the run with {@linkcode DisturbedRunError}.
 */
async function withPublisher<T>(
  ctx: Context,
  kv: boolean,
  capacity: number,
  setup: PublisherSetup,
  fn: (publisher: RabbitMQAsyncEventPublisher) => Promise<T>,
): Promise<T> {
  const dir = kv ? await Deno.makeTempDir({ prefix: "publisher-bench-" }) : undefined;
  let lost: Error | undefined;
  let closing = false;
  const transport = new AmqpTransport({
    urls: [setup.url ?? ctx.url],
    exchange: setup.exchange,
    deadLetter: {
      exchange: `${setup.exchange}.dead-letter`,
      queue: `${setup.exchange}.dead-letter`,
    },
    reconnectBaseDelay: 20,
    reconnectMaxDelay: 100,
    logger: SILENT,
  });
  transport.onStateChange((change) => {
    if (change.from === "connected" && change.to === "disconnected" && !closing) {
      lost ??= new DisturbedRunError(`connection lost: ${change.error?.message ?? "closed"}`);
    }
    setup.onState?.(change);
  });
  try {
    const publisher = await createRabbitMQAsyncEventPublisher(
      { url: setup.url ?? ctx.url, exchange: setup.exchange },
      publisherConfig(dir, capacity + 1_000),
      { transport, logger: SILENT },
    );
    try {
      const result = await fn(publisher);
      if (lost) throw lost;
      return result;
    } finally {
      closing = true;
      await publisher.close({ timeoutMs: 0 });
    }
  } finally {
    if (dir !== undefined) await Deno.remove(dir, { recursive: true });
  }
}

/** Waits until every one of `count` events is confirmed. */
async function allConfirmed(publisher: RabbitMQAsyncEventPublisher, count: number): Promise<void> {
  const deadline = Date.now() + 300_000;
  while (publisher.getStats().publishedEvents < count) {
    if (Date.now() > deadline) {
      throw new Error(`only ${publisher.getStats().publishedEvents} of ${count} events confirmed`);
    }
    await publisher.flush(1_000);
  }
}

// ---- scenarios: each returns its figures for one run ----

type Figures = Record<string, number>;

/** 1. The raw client: confirms, a sliding window of 500, mandatory like the publisher. */
async function baseline(ctx: Context, count: number): Promise<Figures> {
  return await withTopology(ctx, async ({ exchange }) => {
    const batch = events(ctx.tag(), count);
    const client = new AMQPClient(ctx.url);
    await client.connect();
    try {
      const channel = await client.channel();
      await channel.confirmSelect();
      const started = performance.now();
      let next = 0;
      const worker = async () => {
        while (next < batch.length) {
          const event = batch[next++];
          const metadata = { ...event.metadata, priority: event.metadata?.priority ?? "normal" };
          const body = JSON.stringify({
            id: event.id,
            type: event.type,
            version: event.version,
            timestamp: (event.timestamp as Date).toISOString(),
            data: event.data,
            metadata,
          });
          await channel.basicPublish(exchange, event.type, body, {
            contentType: "application/json",
            deliveryMode: 2,
            messageId: event.id,
            type: event.type,
            timestamp: event.timestamp as Date,
            correlationId: metadata.correlationId as string,
            priority: 5,
            headers: {
              "event-version": "1.0",
              "event-priority": "normal",
              "event-source": "bench",
            },
          }, true);
        }
      };
      await Promise.all(Array.from({ length: Math.min(WINDOW, count) }, worker));
      return { throughput: count / ((performance.now() - started) / 1000) };
    } finally {
      if (!client.closed) await client.close();
    }
  });
}

/** 2 and 3. publish() of every event without awaiting, until the last confirm. */
async function throughput(ctx: Context, count: number, kv: boolean): Promise<Figures> {
  return await withTopology(ctx, async ({ exchange }) => {
    const batch = events(ctx.tag(), count);
    return await withPublisher(ctx, kv, count, { exchange }, async (publisher) => {
      const started = performance.now();
      const receipts = batch.map((event) => publisher.publish(event));
      await Promise.all(receipts);
      await allConfirmed(publisher, count);
      return { throughput: count / ((performance.now() - started) / 1000) };
    });
  });
}

/** 4. High priority only: 100 callers, each awaiting its confirm before the next. */
async function highPriority(ctx: Context, count: number): Promise<Figures> {
  return await withTopology(ctx, async ({ exchange }) => {
    const batch = events(ctx.tag(), count, "high");
    return await withPublisher(ctx, false, count, { exchange }, async (publisher) => {
      let next = 0;
      let unconfirmed = 0;
      const caller = async () => {
        while (next < batch.length) {
          const receipt = await publisher.publish(batch[next++]);
          if (receipt.status !== "confirmed") unconfirmed++;
        }
      };
      const started = performance.now();
      await Promise.all(Array.from({ length: Math.min(HIGH_CALLERS, count) }, caller));
      await allConfirmed(publisher, count);
      const elapsed = performance.now() - started;
      if (unconfirmed > 0) {
        throw new Error(`${unconfirmed} high-priority events were not confirmed`);
      }
      return { throughput: count / (elapsed / 1000) };
    });
  });
}

/** 5. Events buffered through an outage, then the time from reconnection to the last confirm. */
async function drain(ctx: Context, count: number, kv: boolean): Promise<Figures> {
  return await withTopology(ctx, async ({ exchange }) => {
    await using proxy = await TcpProxy.start({ targetPort: Number(new URL(ctx.url).port || 5672) });
    const url = proxy.urlFor(new URL(ctx.url).username + ":" + new URL(ctx.url).password);
    let reconnected: number | undefined;
    const connected = Promise.withResolvers<void>();
    const onState = (change: ConnectionStateChange) => {
      if (change.to !== "connected" || reconnected !== undefined) return;
      reconnected = performance.now();
      connected.resolve();
    };
    proxy.refuse();
    return await withPublisher(ctx, kv, count, { exchange, url, onState }, async (publisher) => {
      const batch = events(ctx.tag(), count);
      const receipts = await Promise.all(batch.map((event) => publisher.publish(event)));
      if (receipts.some((r) => r.status !== "buffered")) {
        throw new Error("events were not buffered");
      }
      proxy.restore();
      await connected.promise;
      await allConfirmed(publisher, count);
      return { throughput: count / ((performance.now() - reconnected!) / 1000) };
    });
  });
}

/** 6. Time until publish() resolves, 10 callers awaiting in turn, dispatcher running. */
async function latency(ctx: Context, count: number, kv: boolean): Promise<Figures> {
  return await withTopology(ctx, async ({ exchange }) => {
    const batch = events(ctx.tag(), count);
    return await withPublisher(ctx, kv, count, { exchange }, async (publisher) => {
      const times = new Float64Array(count);
      let next = 0;
      const caller = async () => {
        while (next < batch.length) {
          const i = next++;
          const started = performance.now();
          const receipt = await publisher.publish(batch[i]);
          times[i] = performance.now() - started;
          if (receipt.status !== "queued") throw new Error(`status ${receipt.status}`);
        }
      };
      await Promise.all(Array.from({ length: Math.min(LATENCY_CALLERS, count) }, caller));
      await allConfirmed(publisher, count);
      times.sort();
      return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), max: times[count - 1] };
    });
  });
}

/** 7. Heap and RSS growth per event buffered while the broker is unreachable. */
async function heap(ctx: Context, count: number, kv: boolean): Promise<Figures> {
  const gc = (globalThis as { gc?: () => void }).gc;
  await using proxy = await TcpProxy.start({ targetPort: Number(new URL(ctx.url).port || 5672) });
  proxy.refuse();
  const exchange = `bench.unreachable.${crypto.randomUUID().slice(0, 8)}`;
  return await withPublisher(ctx, kv, count, { exchange, url: proxy.url }, async (publisher) => {
    const tag = ctx.tag();
    // Warms the code paths, so their compiled code is not counted as buffered events.
    await publisher.publishBatch(events(`${tag}w`, 100));
    const settle = async () => {
      for (let i = 0; i < 3; i++) {
        gc?.();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return Deno.memoryUsage();
    };
    const before = await settle();
    for (let i = 0; i < count; i += 1_000) {
      const chunk = Array.from(
        { length: Math.min(1_000, count - i) },
        (_, j) => benchEvent(tag, i + j),
      );
      await Promise.all(chunk.map((event) => publisher.publish(event)));
    }
    const after = await settle();
    if (publisher.getStats().bufferedEvents < count) throw new Error("events were not buffered");
    return {
      heap: (after.heapUsed - before.heapUsed) / count,
      rss: (after.rss - before.rss) / count,
    };
  });
}

/** Runs the heap scenario in a child started with `--expose-gc`, for a clean, collectable heap. */
async function heapInChild(ctx: Context, count: number, kv: boolean): Promise<Figures> {
  const script = new URL(import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      config,
      "--v8-flags=--expose-gc",
      ...CHILD_PERMISSIONS,
      script,
      "--child-heap",
      kv ? "kv" : "memory",
      "--memory-events",
      String(count),
      "--url",
      ctx.url,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(`heap child failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return JSON.parse(text.trim().split("\n").at(-1)!) as Figures;
}

// ---- the run ----

interface Scenario {
  group: ScenarioGroup | "baseline";
  name: string;
  events: number;
  run: (ctx: Context, count: number) => Promise<Figures>;
  metrics: {
    key: string;
    id: string;
    label: string;
    unit: string;
    higherIsBetter: boolean;
    target?: (value: number, baseline: number) => { text: string; met: boolean };
  }[];
}

const atLeast = (factor: number) => (value: number, base: number) => ({
  text: `≥ ${factor.toFixed(2)}× baseline`,
  met: value >= factor * base,
});
const below = (limit: number, unit: string) => (value: number) => ({
  text: `< ${limit} ${unit}`,
  met: value < limit,
});

function scenarios(events: number, memoryEvents: number, heapChild: boolean): Scenario[] {
  const rate = (id: string, label: string, factor?: number) => ({
    key: "throughput",
    id,
    label,
    unit: "events/s",
    higherIsBetter: true,
    target: factor === undefined ? undefined : atLeast(factor),
  });
  const latencies = (store: string, p99Limit: number) =>
    ["p50", "p99", "max"].map((key) => ({
      key,
      id: `latency.${store}.${key}`,
      label: `queued publish() latency ${key}, ${store} store`,
      unit: "ms",
      higherIsBetter: false,
      target: key === "p99" ? below(p99Limit, "ms") : undefined,
    }));
  const heaps = (store: string, heapLimit: number, text: string) => [
    {
      key: "heap",
      id: `heap.${store}`,
      label: `heap growth per buffered event, ${store} store`,
      unit: "B/event",
      higherIsBetter: false,
      target: (value: number) => ({ text, met: value < heapLimit }),
    },
    {
      key: "rss",
      id: `rss.${store}`,
      label: `RSS growth per buffered event, ${store} store`,
      unit: "B/event",
      higherIsBetter: false,
    },
  ];
  const capped = Math.min(events, SLOW_SCENARIO_EVENTS);
  const kvLatency = Math.min(events, KV_LATENCY_EVENTS);
  const heapRun = heapChild ? heapInChild : heap;
  return [
    {
      group: "baseline",
      name: "raw amqp-client",
      events,
      run: baseline,
      metrics: [rate("baseline", "raw amqp-client, confirms, 500 in flight")],
    },
    {
      group: "memory",
      name: "publisher, memory store",
      events,
      run: (ctx, n) => throughput(ctx, n, false),
      metrics: [rate("throughput.memory", "publish(), memory store", 0.9)],
    },
    {
      group: "kv",
      name: "publisher, KV store",
      events,
      run: (ctx, n) => throughput(ctx, n, true),
      metrics: [rate("throughput.kv", "publish(), KV store", 0.75)],
    },
    {
      group: "high",
      name: "high priority, 100 callers",
      events: capped,
      run: highPriority,
      metrics: [rate("throughput.high", "high priority, 100 callers awaiting confirms", 0.6)],
    },
    {
      group: "drain",
      name: "drain, memory store",
      events: capped,
      run: (ctx, n) => drain(ctx, n, false),
      metrics: [rate("drain.memory", "drain after an outage, memory store", 0.9)],
    },
    {
      group: "drain",
      name: "drain, KV store",
      events: capped,
      run: (ctx, n) => drain(ctx, n, true),
      metrics: [rate("drain.kv", "drain after an outage, KV store", 0.75)],
    },
    {
      group: "latency",
      name: "latency, memory store",
      events: capped,
      run: (ctx, n) => latency(ctx, n, false),
      metrics: latencies("memory", 1),
    },
    {
      group: "latency",
      name: "latency, KV store",
      events: kvLatency,
      run: (ctx, n) => latency(ctx, n, true),
      metrics: latencies("kv", 20),
    },
    {
      group: "heap",
      name: "heap, memory store",
      events: memoryEvents,
      run: (ctx, n) => heapRun(ctx, n, false),
      metrics: heaps("memory", 1536, "< 1.5 KB/event"),
    },
    {
      group: "heap",
      name: "heap, KV store",
      events: memoryEvents,
      run: (ctx, n) => heapRun(ctx, n, true),
      metrics: heaps("kv", 100, "flat (< 100 B/event)"),
    },
  ];
}

/**
 * Runs the benchmarks against the broker and returns every figure; writes
 * the JSON unless `smoke` is set without `out`.
 *
 * @param options Event counts, runs, output and the scenarios to run.
 * @returns The figures, with ratios to the raw client and targets met or missed.
 *
 * @example
 * ```ts ignore
 * import { runBenchmarks } from "./publisher_bench.ts";
 *
 * const results = await runBenchmarks({ smoke: true });
 * console.log(results.metrics.length);
 * ```
 */
export async function runBenchmarks(options: BenchOptions = {}): Promise<Results> {
  const smoke = options.smoke ?? false;
  const events = options.events ?? (smoke ? 300 : 50_000);
  const runs = options.runs ?? (smoke ? 1 : 3);
  const memoryEvents = options.memoryEvents ?? (smoke ? events : 100_000);
  const warmUp = !smoke;
  const log = options.log ?? (smoke ? () => {} : (line: string) => console.error(line));
  const url = options.url ?? Deno.env.get("BENCH_RABBITMQ_URL") ?? DEFAULT_URL;
  const gcExposed = typeof (globalThis as { gc?: unknown }).gc === "function";
  const only = new Set<string>(options.only ?? GROUPS);
  const started = performance.now();
  const date = new Date().toISOString();

  let runCounter = 0;
  const ctx: Context = { url, tag: () => `run${String(runCounter++).padStart(5, "0")}` };
  const attempt = async (scenario: Scenario, count: number, what: string): Promise<Figures> => {
    for (let tries = 1;; tries++) {
      try {
        return await scenario.run(ctx, count);
      } catch (error) {
        if (!isDisturbance(error) || tries >= 5) throw error;
        log(`${scenario.name}: ${what} disturbed (${(error as Error).message}); repeating it`);
        await new Promise((resolve) => setTimeout(resolve, 2_000 * tries));
      }
    }
  };
  const metrics: Metric[] = [];
  // Warm-ups first, then the runs in rounds of every scenario, so that drift
  // in the broker's speed affects all scenarios alike.
  const chosen = scenarios(events, memoryEvents, !gcExposed)
    .filter((s) => s.group === "baseline" || only.has(s.group));
  if (warmUp) {
    for (const scenario of chosen) {
      log(`${scenario.name}: warm-up`);
      await attempt(scenario, Math.min(scenario.events, 5_000), "warm-up");
    }
  }
  const figures = chosen.map((): Figures[] => []);
  for (let r = 0; r < runs; r++) {
    for (const [k, scenario] of chosen.entries()) {
      const t0 = performance.now();
      const result = await attempt(scenario, scenario.events, `run ${r + 1}`);
      figures[k].push(result);
      const shown = Object.entries(result)
        .map(([key, v]) => `${key} ${v.toFixed(v < 10 ? 3 : 0)}`)
        .join(", ");
      log(`${scenario.name}: run ${r + 1}/${runs}: ${shown} (${(performance.now() - t0) | 0} ms)`);
    }
  }
  let baselineMedian = NaN;
  for (const [k, scenario] of chosen.entries()) {
    for (const m of scenario.metrics) {
      const values = figures[k].map((f) => f[m.key]);
      const metric: Metric = {
        id: m.id,
        group: scenario.group,
        label: m.label,
        unit: m.unit,
        higherIsBetter: m.higherIsBetter,
        events: scenario.events,
        runs: values,
        median: median(values),
        min: Math.min(...values),
        max: Math.max(...values),
      };
      if (scenario.group === "baseline") baselineMedian = metric.median;
      if (m.unit === "events/s") {
        metric.ratio = {
          median: metric.median / baselineMedian,
          min: metric.min / baselineMedian,
          max: metric.max / baselineMedian,
        };
      }
      if (m.target) metric.target = m.target(metric.median, baselineMedian);
      metrics.push(metric);
    }
  }
  const results: Results = {
    date,
    environment: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      os: `${Deno.build.os} ${Deno.build.arch}`,
      cpus: navigator.hardwareConcurrency,
      gcExposed,
    },
    options: { events, runs, warmUp, memoryEvents },
    metrics,
    totalMs: performance.now() - started,
  };
  if (!smoke || options.out !== undefined) {
    await writeResults(results, options.out ?? new URL("./results", import.meta.url).pathname);
  }
  return results;
}

async function writeResults(results: Results, out: string): Promise<void> {
  const json = JSON.stringify(results, null, 2) + "\n";
  if (out.endsWith(".json")) {
    await Deno.writeTextFile(out, json);
    return;
  }
  await Deno.mkdir(out, { recursive: true });
  const stamp = results.date.replace(/[:.]/g, "-");
  await Deno.writeTextFile(`${out}/${stamp}.json`, json);
  await Deno.writeTextFile(`${out}/latest.json`, json);
}

/**
 * The results as a markdown table: median, min and max, each throughput with
 * its ratio to the baseline's median, and the targets met or missed.
 *
 * @param results What {@linkcode runBenchmarks} returned.
 * @returns The table, with a header line.
 */
export function formatTable(results: Results): string {
  const figure = (value: number, unit: string) =>
    unit === "events/s"
      ? Math.round(value).toLocaleString("en-US")
      : unit === "ms"
      ? value.toFixed(3)
      : Math.round(value).toLocaleString("en-US");
  const withRatio = (value: number, ratio: number | undefined, unit: string) =>
    ratio === undefined ? figure(value, unit) : `${figure(value, unit)} (${ratio.toFixed(2)}×)`;
  const lines = [
    `Deno ${results.environment.deno}, ${results.environment.os}, ` +
    `${results.environment.cpus} CPUs; ${results.options.runs} runs` +
    (results.options.warmUp ? " after a warm-up" : "") +
    `; ratios are to the baseline's median; in flight: ${WINDOW}.`,
    "",
    "| scenario | events | unit | median | min | max | target | met |",
    "|---|---:|---|---:|---:|---:|---|---|",
  ];
  for (const m of results.metrics) {
    lines.push(
      `| ${m.label} | ${m.events.toLocaleString("en-US")} | ${m.unit} | ` +
        `${withRatio(m.median, m.ratio?.median, m.unit)} | ${
          withRatio(m.min, m.ratio?.min, m.unit)
        } | ` +
        `${withRatio(m.max, m.ratio?.max, m.unit)} | ${m.target?.text ?? ""} | ` +
        `${m.target === undefined ? "" : m.target.met ? "met" : "**missed**"} |`,
    );
  }
  return lines.join("\n");
}

function parseArgs(args: readonly string[]): BenchOptions & { childHeap?: string } {
  const options: BenchOptions & { childHeap?: string } = {};
  const number = (flag: string, value: string | undefined) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) {
      throw new RangeError(`'${flag}' must be a positive integer: got ${value}`);
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const value = args[i + 1];
    switch (flag) {
      case "--events":
        options.events = number(flag, value);
        i++;
        break;
      case "--runs":
        options.runs = number(flag, value);
        i++;
        break;
      case "--memory-events":
        options.memoryEvents = number(flag, value);
        i++;
        break;
      case "--smoke":
        options.smoke = true;
        break;
      case "--out":
        options.out = value;
        i++;
        break;
      case "--url":
        options.url = value;
        i++;
        break;
      case "--only": {
        const groups = (value ?? "").split(",");
        for (const g of groups) {
          if (!GROUPS.includes(g as ScenarioGroup)) {
            throw new RangeError(`'--only' takes ${GROUPS.join(", ")}: got ${JSON.stringify(g)}`);
          }
        }
        options.only = groups as ScenarioGroup[];
        i++;
        break;
      }
      case "--child-heap":
        options.childHeap = value;
        i++;
        break;
      default:
        throw new RangeError(`unknown flag ${JSON.stringify(flag)}`);
    }
  }
  return options;
}

if (import.meta.main) {
  const options = parseArgs(Deno.args);
  if (options.childHeap !== undefined) {
    const url = options.url ?? DEFAULT_URL;
    const ctx: Context = { url, tag: () => "child" };
    const figures = await heap(ctx, options.memoryEvents ?? 100_000, options.childHeap === "kv");
    console.log(JSON.stringify(figures));
  } else {
    const results = await runBenchmarks(options);
    console.log(formatTable(results));
    console.log(`\ntotal ${(results.totalMs / 1000).toFixed(1)} s`);
  }
}
