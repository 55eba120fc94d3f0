// The rows of the benchmark: what each measures, against which references
// its ratio is taken, and its targets (issue 14). Every row is measured once
// per round; the rounds interleave all rows so that drift hits them alike.

import { type QueueType, withTopology } from "./_broker.ts";
import type { Context, Figures } from "./_context.ts";
import { backlog, backlogInChild } from "./backlog.ts";
import { peerInDeno, peerInNode, rawLoop } from "./references.ts";
import {
  ceiling,
  DEFAULT_IN_FLIGHT,
  drain,
  highPriority,
  latency,
  throughput,
} from "./scenarios.ts";

/** The row groups, for `--only`. */
export const GROUPS = [
  "references",
  "memory",
  "kv",
  "high",
  "drain",
  "latency",
  "ceiling",
  "telemetry",
  "inflight",
  "size",
  "quorum",
  "backlog",
] as const;

/** A row group. */
export type Group = typeof GROUPS[number];

/** A target on one figure of a row. */
export interface Target {
  /** The figure (`throughput`, `cpu`, `p99`, ...). */
  key: string;
  /** Readable: `≥ 1.00× best reference`. */
  text: string;
  /** Whether `value` meets it; `ratio` is to the row's reference figure. */
  met: (value: number, ratio: number) => boolean;
}

/** One measured row. */
export interface Row {
  id: string;
  group: Group;
  label: string;
  /** A reference: counts for "best reference" of its queue type. */
  reference?: boolean;
  queueType: QueueType;
  count: number;
  bytes: number;
  /** In-flight bound, for the curve. */
  inFlight?: number;
  /**
   * Ratios are to the best of these rows (throughput) and to the first (CPU),
   * which run whenever this row does. Default: the references.
   */
  compareTo?: string[];
  /** No ratio: absolute targets only. */
  absolute?: boolean;
  targets?: Target[];
  run: (ctx: Context, count: number) => Promise<Figures>;
}

/** Sizes of a full run, from the options. */
export interface Plan {
  events: number;
  /** Events for the slower rows (drain, latency, high priority). */
  slowEvents: number;
  ceilingEvents: number;
  backlogs: readonly number[];
  /** Run the backlog in this process (no `--expose-gc` child), for the smoke test. */
  backlogInProcess: boolean;
}

const atLeast = (factor: number, of = "best reference"): Target => ({
  key: "throughput",
  text: `≥ ${factor.toFixed(2)}× ${of}`,
  met: (_value, ratio) => ratio >= factor,
});
const cpuAtMost = (factor: number): Target => ({
  key: "cpu",
  text: `CPU ≤ ${factor.toFixed(1)}× raw client's`,
  met: (_value, ratio) => ratio <= factor,
});
const below = (key: string, limit: number, unit: string): Target => ({
  key,
  text: `${key} < ${limit} ${unit}`,
  met: (value) => value < limit,
});
// The bound on the cost of the API without an SDK: the default row
// within 3 % of the row that makes no telemetry call.
const defaultWithin = (percent: number): Target => ({
  key: "throughput",
  text: `default within ${percent} % of this`,
  met: (_value, ratio) => 1 / ratio >= 1 - percent / 100,
});
const rateAtLeast = (limit: number): Target => ({
  key: "throughput",
  text: `≥ ${limit.toLocaleString("en-US")} events/s`,
  met: (value) => value >= limit,
});

/** The rows of a run, references first. */
export function rows(plan: Plan): Row[] {
  const { events, slowEvents } = plan;
  const onTopology = (
    queueType: QueueType,
    bytes: number,
    fn: (
      run: { url: string; exchange: string; tag: string; count: number; bytes: number },
    ) => Promise<Figures>,
  ) =>
  (ctx: Context, count: number) =>
    withTopology(
      ctx.url,
      queueType,
      ({ exchange }) => fn({ url: ctx.url, exchange, tag: ctx.tag(), count, bytes }),
    );
  const list: Row[] = [];
  for (const queueType of ["classic", "quorum"] as const) {
    const q = queueType === "quorum" ? ".quorum" : "";
    const group = queueType === "quorum" ? "quorum" : undefined;
    const shape = { queueType, count: events, bytes: 300 };
    list.push(
      {
        id: `ref.raw.${DEFAULT_IN_FLIGHT}${q}`,
        group: group ?? "references",
        label: `raw amqp-client loop, ${DEFAULT_IN_FLIGHT} in flight`,
        reference: true,
        ...shape,
        inFlight: DEFAULT_IN_FLIGHT,
        run: onTopology(queueType, 300, (run) => rawLoop(run, DEFAULT_IN_FLIGHT)),
      },
      {
        id: `ref.raw.all${q}`,
        group: group ?? "references",
        label: "raw amqp-client loop, all in flight",
        reference: true,
        ...shape,
        run: onTopology(queueType, 300, (run) => rawLoop(run, Infinity)),
      },
      {
        id: `ref.peer.deno${q}`,
        group: group ?? "references",
        label: "amqp-connection-manager + amqplib, Deno",
        reference: true,
        ...shape,
        run: onTopology(queueType, 300, peerInDeno),
      },
      {
        id: `ref.peer.node${q}`,
        group: group ?? "references",
        label: "amqp-connection-manager + amqplib, Node",
        reference: true,
        ...shape,
        run: onTopology(queueType, 300, peerInNode),
      },
      {
        id: `memory${q}`,
        group: group ?? "memory",
        label: "publish(), memory store",
        ...shape,
        inFlight: DEFAULT_IN_FLIGHT,
        targets: [atLeast(1), cpuAtMost(1.2)],
        run: onTopology(queueType, 300, (run) => throughput(run, { kv: false })),
      },
      {
        id: `kv${q}`,
        group: group ?? "kv",
        label: "publish(), Deno KV store",
        ...shape,
        targets: [atLeast(0.9), cpuAtMost(1.2)],
        run: onTopology(queueType, 300, (run) => throughput(run, { kv: true })),
      },
    );
  }
  const slow = { queueType: "classic" as const, count: slowEvents, bytes: 300 };
  list.push(
    {
      id: "high",
      group: "high",
      label: "high priority, 100 callers awaiting confirms",
      ...slow,
      targets: [atLeast(0.8)],
      run: onTopology("classic", 300, highPriority),
    },
    {
      id: "drain.memory",
      group: "drain",
      label: "drain after an outage, memory store",
      ...slow,
      targets: [atLeast(1)],
      run: onTopology("classic", 300, (run) => drain(run, false)),
    },
    {
      id: "drain.kv",
      group: "drain",
      label: "drain after an outage, Deno KV store",
      ...slow,
      targets: [atLeast(0.9)],
      run: onTopology("classic", 300, (run) => drain(run, true)),
    },
    {
      id: "latency.memory",
      group: "latency",
      label: "queued publish() latency, memory store (10 callers)",
      ...slow,
      absolute: true,
      targets: [below("p99", 0.2, "ms")],
      run: onTopology("classic", 300, (run) => latency(run, false)),
    },
    {
      id: "latency.kv",
      group: "latency",
      label: "queued publish() latency, Deno KV store (10 callers)",
      ...slow,
      absolute: true,
      targets: [below("p99", 5, "ms")],
      run: onTopology("classic", 300, (run) => latency(run, true)),
    },
  );
  for (const kv of [false, true]) {
    list.push({
      id: `ceiling.${kv ? "kv" : "memory"}`,
      group: "ceiling",
      label: `in-process ceiling (instant confirms), ${kv ? "Deno KV" : "memory"} store`,
      queueType: "classic",
      count: plan.ceilingEvents,
      bytes: 300,
      absolute: true,
      targets: [rateAtLeast(kv ? 35_000 : 150_000)],
      run: (ctx, count) =>
        ceiling({ url: ctx.url, exchange: "instant", tag: ctx.tag(), count, bytes: 300 }, kv),
    });
  }
  // Telemetry's cost: each row varies a default row (the API with no SDK)
  // and is compared with it.
  const variants = [
    {
      id: "off",
      label: "telemetry: false",
      telemetry: "off" as const,
      targets: [defaultWithin(3)],
    },
    { id: "sdk", label: "OpenTelemetry SDK on", telemetry: "sdk" as const, targets: [] },
  ];
  for (const { id, label, telemetry, targets } of variants) {
    list.push(
      {
        id: `telemetry.${id}`,
        group: "telemetry",
        label: `publish(), memory store, ${label}`,
        queueType: "classic",
        count: events,
        bytes: 300,
        compareTo: ["memory"],
        targets,
        run: onTopology("classic", 300, (run) => throughput(run, { kv: false, telemetry })),
      },
      {
        id: `telemetry.ceiling.${id}`,
        group: "telemetry",
        label: `in-process ceiling, memory store, ${label}`,
        queueType: "classic",
        count: plan.ceilingEvents,
        bytes: 300,
        compareTo: ["ceiling.memory"],
        targets,
        run: (ctx, count) =>
          ceiling(
            { url: ctx.url, exchange: "instant", tag: ctx.tag(), count, bytes: 300 },
            false,
            telemetry,
          ),
      },
    );
  }
  for (const bound of [100, 2_000, 10_000]) {
    const shape = { queueType: "classic" as const, count: events, bytes: 300, inFlight: bound };
    list.push(
      {
        id: `inflight.raw.${bound}`,
        group: "inflight",
        label: `raw amqp-client loop, ${bound.toLocaleString("en-US")} in flight`,
        ...shape,
        run: onTopology("classic", 300, (run) => rawLoop(run, bound)),
      },
      {
        id: `inflight.memory.${bound}`,
        group: "inflight",
        label: `publish(), memory store, ${bound.toLocaleString("en-US")} in flight`,
        ...shape,
        compareTo: [`inflight.raw.${bound}`],
        run: onTopology("classic", 300, (run) => throughput(run, { kv: false, inFlight: bound })),
      },
    );
  }
  for (const bytes of [4_096, 60_000]) {
    // Fewer events as they grow, so that each row sends about as many bytes as 4 KB × events / 4.
    const count = Math.max(50, Math.round(events * 1_200 / bytes));
    const kb = `${Math.round(bytes / 1_000)} KB`;
    const shape = { queueType: "classic" as const, count, bytes };
    list.push(
      {
        id: `size.raw.${bytes}`,
        group: "size",
        label: `raw amqp-client loop, ${kb} events`,
        ...shape,
        run: onTopology("classic", bytes, (run) => rawLoop(run, DEFAULT_IN_FLIGHT)),
      },
      {
        id: `size.memory.${bytes}`,
        group: "size",
        label: `publish(), memory store, ${kb} events`,
        ...shape,
        compareTo: [`size.raw.${bytes}`],
        run: onTopology("classic", bytes, (run) => throughput(run, { kv: false })),
      },
    );
  }
  // The broker works harder as its queue grows: each backlog's drain is
  // compared with the raw loop sending as many events into an empty queue,
  // so that what bends with the count is told apart from what the broker does.
  for (const count of plan.backlogs) {
    list.push({
      id: `backlog.raw.${count}`,
      group: "backlog",
      label: `raw amqp-client loop, ${DEFAULT_IN_FLIGHT} in flight, ${
        count.toLocaleString("en-US")
      } events`,
      queueType: "classic",
      count,
      bytes: 300,
      run: onTopology("classic", 300, (run) => rawLoop(run, DEFAULT_IN_FLIGHT)),
    });
  }
  for (const kv of [false, true]) {
    for (const count of kv ? plan.backlogs : plan.backlogs.slice(0, 2)) {
      const run = plan.backlogInProcess ? backlog : backlogInChild;
      list.push({
        id: `backlog.${kv ? "kv" : "memory"}.${count}`,
        group: "backlog",
        label: `backlog of ${count.toLocaleString("en-US")}, ${kv ? "Deno KV" : "memory"} store`,
        queueType: "classic",
        count,
        bytes: 300,
        compareTo: [`backlog.raw.${count}`],
        run: (ctx, n) => run({ url: ctx.url, kv, count: n, bytes: 300 }),
      });
    }
  }
  return list;
}
