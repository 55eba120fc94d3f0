/**
 * The backlog scenario: `count` events buffered during an outage, measured
 * in a fresh child process started with `--expose-gc`, so that its heap and
 * RSS belong to the backlog alone: `publish()` latency while buffering (100
 * callers), heap and RSS growth per buffered event, then the time to drain
 * the whole backlog once the broker is back.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/backlog.ts --store kv --events 100000
 * ```
 *
 * @module
 */

import { withTopology } from "./_broker.ts";
import type { Figures } from "./_context.ts";
import { fromTemplate, template } from "./_events.ts";
import { percentile, startSpan } from "./_measure.ts";
import type { OutageTransport } from "./_transports.ts";
import { allConfirmed, withPublisher } from "./scenarios.ts";

const CALLERS = 100;
const WARM_UP = 100;

/** What the backlog child measures. */
export interface BacklogRun {
  url: string;
  kv: boolean;
  count: number;
  bytes: number;
}

async function settledMemory(): Promise<Deno.MemoryUsage> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Deno.memoryUsage();
}

/** Buffers `count` events during an outage, then drains them; in this process. */
export async function backlog(run: BacklogRun): Promise<Figures> {
  return await withTopology(run.url, "classic", async ({ exchange }) => {
    const t = template("backlog", run.bytes);
    const shape = { url: run.url, exchange, tag: "backlog", count: run.count, bytes: run.bytes };
    const setup = { kv: run.kv, transport: "outage" as const, capacity: run.count + 2 * WARM_UP };
    return await withPublisher(shape, setup, async (publisher, transport) => {
      // Warms the code paths, so their compiled code is not counted as buffered events.
      await publisher.publishBatch(
        Array.from({ length: WARM_UP }, (_, i) => fromTemplate(t, -1 - i)),
      );
      const before = await settledMemory();
      const times = new Float64Array(run.count);
      let next = 0;
      const caller = async () => {
        while (next < run.count) {
          const i = next++;
          const event = fromTemplate(t, i);
          const started = performance.now();
          const receipt = await publisher.publish(event);
          times[i] = performance.now() - started;
          if (receipt.status !== "buffered") throw new Error(`status ${receipt.status}`);
        }
      };
      const buffering = startSpan();
      await Promise.all(Array.from({ length: Math.min(CALLERS, run.count) }, caller));
      const buffered = buffering();
      const after = await settledMemory();
      times.sort();
      const end = startSpan();
      (transport as OutageTransport).restore();
      await allConfirmed(publisher, run.count + WARM_UP);
      const drained = end();
      return {
        p50: percentile(times, 0.5),
        p99: percentile(times, 0.99),
        max: times[run.count - 1],
        bufferRate: run.count / buffered.seconds,
        heap: (after.heapUsed - before.heapUsed) / run.count,
        rss: (after.rss - before.rss) / run.count,
        heapMB: after.heapUsed / 2 ** 20,
        rssMB: after.rss / 2 ** 20,
        drainSeconds: drained.seconds,
        throughput: (run.count + WARM_UP) / drained.seconds,
        cpu: drained.cpuMicros / (run.count + WARM_UP),
      };
    });
  });
}

/** Runs {@linkcode backlog} in a child process started with `--expose-gc`. */
export async function backlogInChild(run: BacklogRun): Promise<Figures> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      new URL("../deno.json", import.meta.url).pathname,
      "--v8-flags=--expose-gc",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-sys",
      new URL(import.meta.url).pathname,
      "--store",
      run.kv ? "kv" : "memory",
      "--events",
      String(run.count),
      "--bytes",
      String(run.bytes),
      "--url",
      run.url,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  if (!output.success) throw new Error(`backlog child failed: ${text.decode(output.stderr)}`);
  return JSON.parse(text.decode(output.stdout).trim().split("\n").at(-1)!) as Figures;
}

if (import.meta.main) {
  const arg = (flag: string, fallback: string) => {
    const i = Deno.args.indexOf(flag);
    return i === -1 ? fallback : Deno.args[i + 1];
  };
  const figures = await backlog({
    url: arg("--url", "amqp://guest:guest@127.0.0.1:5672"),
    kv: arg("--store", "kv") === "kv",
    count: Number(arg("--events", "10000")),
    bytes: Number(arg("--bytes", "300")),
  });
  console.log(JSON.stringify(figures));
}
