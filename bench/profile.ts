/**
 * Profiles rows of the benchmark: each row runs once in a child started with
 * `--cpu-prof`, and the profile's self time is summarised by function and by
 * file, which is how the README's "what bounds each row" was found.
 *
 * ```sh
 * deno task bench:profile memory kv ref.raw.500 --events 20000
 * ```
 *
 * Profiles are kept in `bench/results/local/profiles/` (ignored by git), to
 * open in Chrome DevTools. Only the main thread is sampled: Deno KV's SQLite
 * work on its own threads shows as idle time here.
 *
 * @module
 */

import { takeFlag, takePositiveFlag } from "./_args.ts";
import { rows } from "./_rows.ts";

const PROFILES = new URL("./results/local/profiles/", import.meta.url).pathname;
const ROOT = new URL("../", import.meta.url).href;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Self time of a profile by function and by file, as text.
 *
 * @param profile A `.cpuprofile` as parsed JSON.
 * @param top How many functions to list.
 * @returns The summary, one line per entry, busiest first.
 */
export function summariseProfile(profile: CpuProfile, top = 20): string {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    const frame = nodes.get(profile.samples[i])!.callFrame;
    const file = (frame.url || "(native)")
      .replace(/^.*\/registry\.npmjs\.org\//, "npm:")
      .replace(ROOT, "");
    const name = `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + delta);
    byFile.set(file, (byFile.get(file) ?? 0) + delta);
    total += delta;
  }
  const list = (map: Map<string, number>, n: number) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([key, t]) =>
      `${(100 * t / total).toFixed(1).padStart(5)}%  ${
        (t / 1000).toFixed(0).padStart(6)
      } ms  ${key}`
    );
  return [
    `sampled ${(total / 1000).toFixed(0)} ms`,
    "-- self time by function",
    ...list(byFunction, top),
    "-- self time by file",
    ...list(byFile, 12),
  ].join("\n");
}

async function runChild(id: string, events: number): Promise<void> {
  const row = rows({
    events,
    slowEvents: events,
    ceilingEvents: events,
    backlogs: [events],
    backlogInProcess: true,
  }).find((r) => r.id === id);
  if (row === undefined) throw new RangeError(`no row ${JSON.stringify(id)}`);
  let tags = 0;
  const url = Deno.env.get("BENCH_RABBITMQ_URL") ?? "amqp://guest:guest@127.0.0.1:5672";
  const figures = await row.run({ url, tag: () => `prof${tags++}` }, row.count);
  console.log(JSON.stringify(figures));
}

async function profile(id: string, events: number): Promise<void> {
  const dir = `${PROFILES}${id}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      new URL("../deno.json", import.meta.url).pathname,
      "--cpu-prof",
      `--cpu-prof-dir=${dir}`,
      "-A",
      new URL(import.meta.url).pathname,
      "--child",
      id,
      "--events",
      String(events),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`profiling ${id} failed`);
  console.log(`## ${id}: ${new TextDecoder().decode(output.stdout).trim()}`);
  for await (const entry of Deno.readDir(dir)) {
    const parsed = JSON.parse(await Deno.readTextFile(`${dir}/${entry.name}`)) as CpuProfile;
    console.log(summariseProfile(parsed), `\n(${dir}/${entry.name})\n`);
  }
}

if (import.meta.main) {
  const args = [...Deno.args];
  const events = takePositiveFlag(args, "--events") ?? 20_000;
  const child = takeFlag(args, "--child");
  if (child !== undefined) await runChild(child, events);
  else {for (const id of args.length > 0 ? args : ["ref.raw.500", "memory", "kv"]) {
      await profile(id, events);
    }}
}
