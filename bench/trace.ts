/**
 * Traces one run of the throughput scenario (every event handed to
 * `publish()` in one loop, then every confirm awaited) by sampling the
 * publisher's stats on a timer: how long the caller's loop held the event
 * loop, when the store had accepted everything (the KV store's commits),
 * how many events were in flight while sending, and the longest time no
 * confirm came while events were in flight. How the README's "what bounds
 * each row" saw the window full (497 of 500 on average) and the KV row's
 * confirms arrive in bursts. The loop counts each resolved `publish()`
 * (a `then()` per event, which the bench's own loop does not have), so its
 * hand-over runs a little longer than the bench row's.
 *
 * ```sh
 * deno task bench:trace memory --events 30000
 * deno task bench:trace kv --events 30000 --every 20 --samples
 * ```
 *
 * @module
 */

import { takePositiveFlag, takeSwitch } from "./_args.ts";
import { withTopology } from "./_broker.ts";
import { makeEvents } from "./_events.ts";
import { allConfirmed, DEFAULT_IN_FLIGHT, withPublisher } from "./scenarios.ts";

/** The publisher's counts at one moment of a traced run. */
export interface TraceSample {
  /** Since the first `publish()`, in ms. */
  atMs: number;
  /** Events whose `publish()` has resolved. */
  accepted: number;
  /** Events confirmed by the broker. */
  confirmed: number;
  /** Events sent and awaiting their confirm. */
  inFlight: number;
  /** Events waiting for the dispatcher. */
  queued: number;
}

/** What {@linkcode traceThroughput} found. */
export interface Trace {
  /** How long the caller's loop of `publish()` calls took (nothing else ran meanwhile), in ms. */
  handOverMs: number;
  /** When the last `publish()` resolved (for the KV store: its last commit), in ms. */
  acceptedMs: number;
  /** When the last event was confirmed, in ms. */
  confirmedMs: number;
  /** Events per second, first `publish()` to last confirm. */
  throughput: number;
  /** Mean events in flight over the samples taken while some were still unconfirmed. */
  meanInFlight: number;
  /** The longest time between samples over which no confirm came while events were in flight, in ms. */
  longestStallMs: number;
  /** The samples, in order. */
  samples: TraceSample[];
}

/** Options of {@linkcode traceThroughput}. */
export interface TraceOptions {
  /** The Deno KV store, or the memory store. */
  kv: boolean;
  /** Events published. @default {30000} */
  events?: number;
  /** Time between samples, in ms. @default {50} */
  everyMs?: number;
  /** Events in flight. @default {500} */
  inFlight?: number;
  /** @default {"amqp://guest:guest@127.0.0.1:5672"} */
  url?: string;
}

/**
 * Runs the throughput scenario once, on a fresh queue, sampling as it goes.
 *
 * @param options The store, the events, the sampling interval and the broker.
 * @returns The run's timeline and what it shows.
 */
export async function traceThroughput(options: TraceOptions): Promise<Trace> {
  const {
    kv,
    events: count = 30_000,
    everyMs = 50,
    inFlight = DEFAULT_IN_FLIGHT,
    url = "amqp://guest:guest@127.0.0.1:5672",
  } = options;
  return await withTopology(url, "classic", async ({ exchange }) => {
    const run = {
      url,
      exchange,
      tag: `trace-${crypto.randomUUID().slice(0, 8)}`,
      count,
      bytes: 300,
    };
    return await withPublisher(run, { kv, inFlight }, async (publisher) => {
      const events = makeEvents(run.tag, count, run.bytes);
      const samples: TraceSample[] = [];
      let accepted = 0;
      const counted = () => accepted++;
      const start = performance.now();
      const sample = () => {
        const stats = publisher.getStats();
        samples.push({
          atMs: performance.now() - start,
          accepted,
          confirmed: stats.publishedEvents,
          inFlight: stats.inFlightEvents,
          queued: stats.queuedEvents,
        });
      };
      const timer = setInterval(sample, everyMs);
      try {
        const receipts = events.map((event) => publisher.publish(event).then(counted));
        const handOverMs = performance.now() - start;
        await Promise.all(receipts);
        const acceptedMs = performance.now() - start;
        await allConfirmed(publisher, count);
        const confirmedMs = performance.now() - start;
        sample();
        return { handOverMs, acceptedMs, confirmedMs, ...summarise(samples, count, confirmedMs) };
      } finally {
        clearInterval(timer);
      }
    });
  });
}

/** The figures a timeline shows. */
export function summarise(
  samples: TraceSample[],
  count: number,
  confirmedMs: number,
): Pick<Trace, "throughput" | "meanInFlight" | "longestStallMs" | "samples"> {
  const sending = samples.filter((s) => s.confirmed < count && s.inFlight > 0);
  const meanInFlight = sending.length === 0
    ? 0
    : sending.reduce((sum, s) => sum + s.inFlight, 0) / sending.length;
  let longestStallMs = 0;
  let since: TraceSample | undefined;
  for (const s of samples) {
    if (since === undefined || s.confirmed !== since.confirmed || since.inFlight === 0) {
      since = s;
      continue;
    }
    longestStallMs = Math.max(longestStallMs, s.atMs - since.atMs);
  }
  return { throughput: count / (confirmedMs / 1_000), meanInFlight, longestStallMs, samples };
}

/** The trace as text: a line per sample (when asked), then the summary. */
export function formatTrace(trace: Trace, withSamples: boolean): string {
  const lines: string[] = [];
  if (withSamples) {
    lines.push("    ms  accepted  confirmed  (+new)  in flight  queued");
    let before = 0;
    for (const s of trace.samples) {
      lines.push(
        [
          s.atMs.toFixed(0).padStart(6),
          String(s.accepted).padStart(9),
          String(s.confirmed).padStart(10),
          `(+${s.confirmed - before})`.padStart(8),
          String(s.inFlight).padStart(10),
          String(s.queued).padStart(7),
        ].join(" "),
      );
      before = s.confirmed;
    }
  }
  lines.push(
    `hand-over ${trace.handOverMs.toFixed(0)} ms, all accepted ${
      trace.acceptedMs.toFixed(0)
    } ms, all confirmed ${trace.confirmedMs.toFixed(0)} ms: ${
      Math.round(trace.throughput)
    } events/s`,
    `mean in flight while sending ${
      trace.meanInFlight.toFixed(0)
    }, longest time without a confirm ${trace.longestStallMs.toFixed(0)} ms`,
  );
  return lines.join("\n");
}

if (import.meta.main) {
  const args = [...Deno.args];
  const events = takePositiveFlag(args, "--events");
  const everyMs = takePositiveFlag(args, "--every");
  const inFlight = takePositiveFlag(args, "--in-flight");
  const withSamples = takeSwitch(args, "--samples");
  if (args.length !== 1 || !["memory", "kv"].includes(args[0])) {
    throw new RangeError(
      "usage: trace.ts memory|kv [--events n] [--every ms] [--in-flight n] [--samples]",
    );
  }
  const trace = await traceThroughput({ kv: args[0] === "kv", events, everyMs, inFlight });
  console.log(formatTrace(trace, withSamples));
}
