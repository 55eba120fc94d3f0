/**
 * Our publisher's scenarios in the benchmark, each one measured run:
 * throughput of queued `publish()` (memory and KV store), high priority with
 * 100 callers awaiting confirms, the drain after an outage, `publish()`
 * latency, and the in-process ceiling with a transport that confirms at once.
 *
 * @module
 */

import {
  AmqpTransport,
  type AsyncPublishConfig,
  createRabbitMQAsyncEventPublisher,
  type RabbitMQAsyncEventPublisher,
  type Transport,
} from "../mod.ts";
import { DisturbedRunError } from "./_broker.ts";
import type { Figures } from "./_context.ts";
import { withSdk } from "./_otel.ts";
import { fromTemplate, makeEvents, template } from "./_events.ts";
import { percentile, rate, startSpan } from "./_measure.ts";
import { InstantTransport, OutageTransport } from "./_transports.ts";

/** Events in flight by default: `batchSize` (50) × `maxConcurrency` (10). */
export const DEFAULT_IN_FLIGHT = 500;
const BATCH_SIZE = 50;
const HIGH_CALLERS = 100;
const LATENCY_CALLERS = 10;
const CEILING_CALLERS = 1_000;
const SILENT = { debug() {}, info() {}, warn() {}, error() {} };

/** What one run of ours publishes. */
export interface OurRun {
  url: string;
  exchange: string;
  tag: string;
  count: number;
  bytes: number;
}

/** How the publisher of a run is set up. */
export interface PublisherSetup {
  /** Deno KV in a temporary directory, or the memory store. */
  kv: boolean;
  /** Events in flight: `batchSize` 50 × `maxConcurrency` (bound / 50). @default {500} */
  inFlight?: number;
  /** Wraps the real transport (an outage), or replaces it (`instant`). */
  transport?: "amqp" | "outage" | "instant";
  /** Buffer capacity in events. @default {count + 1,000} */
  capacity?: number;
  /**
   * The API with no SDK (what users get by default), `telemetry: false`
   * (no call into the API), or an SDK registered for the run.
   * @default {"default"}
   */
  telemetry?: "default" | "off" | "sdk";
}

/**
 * The library's defaults, except what a benchmark must change: a flush
 * interval of 5 ms (the default 5 s would hold the last partial batch), a
 * long publish timeout, a buffer that holds every event of the run, and the
 * in-flight bound as batches of 50.
 */
function publisherConfig(
  dir: string | undefined,
  capacity: number,
  bytes: number,
  inFlight: number,
): AsyncPublishConfig {
  return {
    batchSize: Math.min(BATCH_SIZE, inFlight),
    maxConcurrency: Math.max(1, Math.round(inFlight / BATCH_SIZE)),
    flushInterval: 5,
    publishTimeout: 120_000,
    bufferConfig: {
      maxBufferSize: capacity,
      maxPersistentSize: capacity * (bytes + 1_024),
      enablePersistence: dir !== undefined,
      ...(dir !== undefined ? { persistentStoragePath: `${dir}/events.kv` } : {}),
    },
  };
}

/**
 * Runs `fn` with a publisher, then closes it. A connection lost after the
 * first connect, which the scenario did not cause, fails the run with
 * {@linkcode DisturbedRunError}.
 */
export function withPublisher<T>(
  run: OurRun,
  setup: PublisherSetup,
  fn: (publisher: RabbitMQAsyncEventPublisher, transport: Transport) => Promise<T>,
): Promise<T> {
  const go = () => onPublisher(run, setup, fn);
  return setup.telemetry === "sdk" ? withSdk(run.count, go) : go();
}

async function onPublisher<T>(
  run: OurRun,
  setup: PublisherSetup,
  fn: (publisher: RabbitMQAsyncEventPublisher, transport: Transport) => Promise<T>,
): Promise<T> {
  const dir = setup.kv ? await Deno.makeTempDir({ prefix: "publisher-bench-" }) : undefined;
  let lost: Error | undefined;
  let closing = false;
  let transport: Transport;
  if (setup.transport === "instant") {
    transport = new InstantTransport();
  } else {
    const amqp = new AmqpTransport({
      urls: [run.url],
      exchange: run.exchange,
      deadLetter: { exchange: `${run.exchange}.dead-letter`, queue: `${run.exchange}.dead-letter` },
      reconnectBaseDelay: 20,
      reconnectMaxDelay: 100,
      logger: SILENT,
    });
    amqp.onStateChange((change) => {
      if (change.from === "connected" && change.to === "disconnected" && !closing) {
        lost ??= new DisturbedRunError(`connection lost: ${change.error?.message ?? "closed"}`);
      }
    });
    transport = setup.transport === "outage" ? new OutageTransport(amqp) : amqp;
  }
  const capacity = setup.capacity ?? run.count + 1_000;
  try {
    const publisher = await createRabbitMQAsyncEventPublisher(
      { url: run.url, exchange: run.exchange },
      publisherConfig(dir, capacity, run.bytes, setup.inFlight ?? DEFAULT_IN_FLIGHT),
      { transport, logger: SILENT, telemetry: setup.telemetry !== "off" },
    );
    try {
      const result = await fn(publisher, transport);
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

/** Waits until `count` events are confirmed. */
export async function allConfirmed(
  publisher: RabbitMQAsyncEventPublisher,
  count: number,
): Promise<void> {
  const deadline = Date.now() + 600_000;
  while (publisher.getStats().publishedEvents < count) {
    if (Date.now() > deadline) {
      throw new Error(`only ${publisher.getStats().publishedEvents} of ${count} events confirmed`);
    }
    await publisher.flush(1_000);
  }
}

/** Queued publish() of every event without awaiting, until the last confirm. */
export async function throughput(run: OurRun, setup: PublisherSetup): Promise<Figures> {
  const events = makeEvents(run.tag, run.count, run.bytes);
  return await withPublisher(run, setup, async (publisher) => {
    const end = startSpan();
    await Promise.all(events.map((event) => publisher.publish(event)));
    await allConfirmed(publisher, run.count);
    return rate(end(), run.count);
  });
}

/** High priority only: 100 callers, each awaiting its confirm before its next event. */
export async function highPriority(run: OurRun): Promise<Figures> {
  const events = makeEvents(run.tag, run.count, run.bytes, "high");
  return await withPublisher(run, { kv: false }, async (publisher) => {
    let next = 0;
    let unconfirmed = 0;
    const caller = async () => {
      while (next < events.length) {
        const receipt = await publisher.publish(events[next++]);
        if (receipt.status !== "confirmed") unconfirmed++;
      }
    };
    const end = startSpan();
    await Promise.all(Array.from({ length: Math.min(HIGH_CALLERS, run.count) }, caller));
    await allConfirmed(publisher, run.count);
    const span = end();
    if (unconfirmed > 0) throw new Error(`${unconfirmed} high-priority events were not confirmed`);
    return rate(span, run.count);
  });
}

/**
 * Events buffered during an outage (the publisher sees its transport down),
 * then the time from the reconnection to the last confirm.
 */
export async function drain(run: OurRun, kv: boolean): Promise<Figures> {
  const events = makeEvents(run.tag, run.count, run.bytes);
  return await withPublisher(run, { kv, transport: "outage" }, async (publisher, transport) => {
    const receipts = await Promise.all(events.map((event) => publisher.publish(event)));
    if (receipts.some((r) => r.status !== "buffered")) throw new Error("events were not buffered");
    const end = startSpan();
    (transport as OutageTransport).restore();
    await allConfirmed(publisher, run.count);
    return rate(end(), run.count);
  });
}

/** Time until publish() resolves, 10 callers awaiting in turn, the dispatcher running. */
export async function latency(run: OurRun, kv: boolean): Promise<Figures> {
  const events = makeEvents(run.tag, run.count, run.bytes);
  return await withPublisher(run, { kv }, async (publisher) => {
    const times = new Float64Array(run.count);
    let next = 0;
    const caller = async () => {
      while (next < events.length) {
        const i = next++;
        const started = performance.now();
        const receipt = await publisher.publish(events[i]);
        times[i] = performance.now() - started;
        if (receipt.status !== "queued") throw new Error(`status ${receipt.status}`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LATENCY_CALLERS, run.count) }, caller));
    await allConfirmed(publisher, run.count);
    times.sort();
    return {
      p50: percentile(times, 0.5),
      p99: percentile(times, 0.99),
      max: times[run.count - 1],
    };
  });
}

/**
 * Our whole pipeline with a transport that confirms at once: the in-process
 * ceiling. 1,000 callers each await their publish() (a busy service; enough
 * to fill a KV group commit), with events made as they go: 100,000 events
 * and their receipts held at once would measure the collector instead.
 */
export async function ceiling(
  run: OurRun,
  kv: boolean,
  telemetry: PublisherSetup["telemetry"] = "default",
): Promise<Figures> {
  const t = template(run.tag, run.bytes);
  return await withPublisher(run, { kv, transport: "instant", telemetry }, async (publisher) => {
    let next = 0;
    const caller = async () => {
      while (next < run.count) await publisher.publish(fromTemplate(t, next++));
    };
    const end = startSpan();
    await Promise.all(Array.from({ length: Math.min(CEILING_CALLERS, run.count) }, caller));
    await allConfirmed(publisher, run.count);
    return rate(end(), run.count);
  });
}
