/**
 * Two rows of the benchmark compared in paired rounds: each round runs both,
 * one right after the other (in turn first), and the figure is the median of
 * the per-round ratios. Two runs that close share the machine's load, so on a
 * busy machine this resolves a few percent where the medians of a full run
 * (rows minutes apart) do not. How the telemetry overhead was measured.
 *
 * ```sh
 * deno task bench:paired ceiling.memory telemetry.ceiling.off --events 10000 --rounds 200
 * ```
 *
 * @module
 */

import { takePositiveFlag } from "./_args.ts";
import { median } from "./_measure.ts";
import { rows } from "./_rows.ts";

/** The median ratio of a figure over the rounds, with its quartiles. */
export interface PairedRatio {
  median: number;
  q1: number;
  q3: number;
}

/** What {@linkcode comparePaired} returns: `a` over `b`. */
export interface Paired {
  throughput: PairedRatio;
  cpu: PairedRatio;
  /** Median throughput (events/s) and CPU (µs/event) of each row. */
  a: { throughput: number; cpu: number };
  b: { throughput: number; cpu: number };
}

function ratioOf(values: number[]): PairedRatio {
  const sorted = [...values].sort((x, y) => x - y);
  const at = (p: number) => sorted[Math.round(p * (sorted.length - 1))];
  return { median: median(values), q1: at(0.25), q3: at(0.75) };
}

/**
 * Runs rows `a` and `b` in `rounds` paired rounds of `events` events each,
 * after 3 warm-up pairs.
 *
 * @param a The id of the row compared.
 * @param b The id of the row it is compared with.
 * @param options Events per run, rounds, and the broker.
 * @returns The ratios `a / b` and the medians of each row.
 * @throws {RangeError} When a row does not exist.
 */
export async function comparePaired(
  a: string,
  b: string,
  { events = 10_000, rounds = 100, url = "amqp://guest:guest@127.0.0.1:5672" } = {},
): Promise<Paired> {
  const all = rows({
    events,
    slowEvents: events,
    ceilingEvents: events,
    backlogs: [events],
    backlogInProcess: true,
  });
  const [rowA, rowB] = [a, b].map((id) => {
    const row = all.find((r) => r.id === id);
    if (row === undefined) throw new RangeError(`no row ${JSON.stringify(id)}`);
    return row;
  });
  let tags = 0;
  const ctx = { url, tag: () => `pair${String(tags++).padStart(5, "0")}` };
  for (let i = 0; i < 3; i++) {
    await rowA.run(ctx, Math.min(events, 2_000));
    await rowB.run(ctx, Math.min(events, 2_000));
  }
  const figures = { a: [] as Record<string, number>[], b: [] as Record<string, number>[] };
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      figures.a.push(await rowA.run(ctx, events));
      figures.b.push(await rowB.run(ctx, events));
    } else {
      figures.b.push(await rowB.run(ctx, events));
      figures.a.push(await rowA.run(ctx, events));
    }
  }
  const ratios = (key: string) => ratioOf(figures.a.map((f, i) => f[key] / figures.b[i][key]));
  const medians = (runs: Record<string, number>[]) => ({
    throughput: median(runs.map((f) => f.throughput)),
    cpu: median(runs.map((f) => f.cpu)),
  });
  return {
    throughput: ratios("throughput"),
    cpu: ratios("cpu"),
    a: medians(figures.a),
    b: medians(figures.b),
  };
}

if (import.meta.main) {
  const args = [...Deno.args];
  const events = takePositiveFlag(args, "--events");
  const rounds = takePositiveFlag(args, "--rounds");
  if (args.length !== 2) {
    throw new RangeError("usage: paired.ts <row> <row> [--events n] [--rounds n]");
  }
  const [a, b] = args;
  const load = Deno.loadavg().map((l) => l.toFixed(1)).join(" ");
  const r = await comparePaired(a, b, { events, rounds });
  const show = (x: PairedRatio) =>
    `${x.median.toFixed(3)} (quartiles ${x.q1.toFixed(3)}–${x.q3.toFixed(3)})`;
  console.log(`${a} / ${b}, load ${load} before the run:`);
  console.log(`  throughput ${show(r.throughput)}; CPU per event ${show(r.cpu)}`);
  for (const [id, m] of [[a, r.a], [b, r.b]] as const) {
    console.log(`  ${id}: ${Math.round(m.throughput)} events/s, ${m.cpu.toFixed(2)} µs CPU/event`);
  }
}
