// The dead-letter tool's reading commands: `list`, `show`, `count` and
// `status`. None of them changes anything, and each answers with what it
// could read when the broker or the store could not be read (exit 1).

import { maskUrl } from "../_mask.ts";
import { type EventPriority, PRIORITIES } from "../event.ts";
import {
  ALL,
  type Context,
  type LocalStore,
  openQueue,
  readLetters,
  readLocalStore,
  reportGaps,
} from "./_context.ts";
import { age, byteSize, columns, letterJson, letterTable, letterText } from "./_format.ts";
import { isFiltered, matcher } from "./_select.ts";

/** `list`: the dead letters that match the filters, at most `--limit`. */
export async function list(ctx: Context): Promise<number> {
  const { limit, filter, json } = ctx.command;
  // One more than shown tells whether there are more; filters must see every letter.
  const found = await readLetters(ctx, isFiltered(filter) ? ALL : limit + 1);
  const matching = found.letters.filter(matcher(filter, ctx.now));
  const shown = matching.slice(0, limit);
  if (json) ctx.out(JSON.stringify(shown.map(letterJson), null, 2) + "\n");
  else ctx.out(shown.length === 0 ? "no dead letters\n" : letterTable(shown));
  if (matching.length > limit) {
    ctx.err(`dlq: showing the first ${limit}; use --limit N for more\n`);
  }
  return reportGaps(ctx, found) ? 1 : 0;
}

/** `show ID...`: every dead letter with these ids, whole. */
export async function show(ctx: Context): Promise<number> {
  const { ids, json } = ctx.command;
  const found = await readLetters(ctx, ALL);
  const wanted = new Set(ids);
  const shown = found.letters.filter((letter) => wanted.has(letter.id));
  if (json) {
    ctx.out(JSON.stringify(shown.map(letterJson), null, 2) + "\n");
  } else {
    ctx.out(shown.map((letter) => letterText(letter, ctx.now)).join("\n"));
  }
  let code = reportGaps(ctx, found) ? 1 : 0;
  const seen = new Set(shown.map((letter) => letter.id));
  for (const id of new Set(ids)) {
    if (seen.has(id)) continue;
    const where = found.brokerError === undefined ? "" : " (the broker queue was not read)";
    ctx.err(`dlq: no dead letter with id ${JSON.stringify(id)}${where}\n`);
    code = 1;
  }
  return code;
}

/** `count`: local and broker dead letters; the broker's is `null` when it could not be read. */
export async function count(ctx: Context): Promise<number> {
  const local = await readLocalStore(ctx);
  const counts = { local: localCount(local), ...await brokerCount(ctx) };
  const total = counts.broker === null ? null : counts.local + counts.broker;
  if (ctx.command.json) {
    ctx.out(JSON.stringify({ local: counts.local, broker: counts.broker, total }) + "\n");
  } else {
    ctx.out(
      `local:  ${counts.local}\nbroker: ${counts.broker ?? "unavailable"}\n` +
        `total:  ${total ?? "unknown"}\n`,
    );
  }
  return reportGaps(ctx, { local, brokerError: counts.brokerError }) ? 1 : 0;
}

/**
 * `status`: what the store holds (pending events by priority, bytes, the
 * oldest, local dead letters, the lease) and the broker queue's depth. The
 * text is made from the JSON, so the two always show the same numbers.
 */
export async function status(ctx: Context): Promise<number> {
  const local = await readLocalStore(ctx);
  const broker = await brokerCount(ctx);
  const report: StatusReport = {
    store: storeStatus(ctx, local),
    deadLetters: {
      local: localCount(local),
      broker: broker.broker,
      total: broker.broker === null ? null : localCount(local) + broker.broker,
    },
    broker: {
      urls: ctx.urls.map(maskUrl),
      queue: ctx.queue,
      reachable: broker.broker !== null,
      ...(broker.brokerError === undefined ? {} : { error: broker.brokerError }),
    },
  };
  ctx.out(ctx.command.json ? JSON.stringify(report, null, 2) + "\n" : statusText(ctx, report));
  return local.state === "unreadable" || broker.broker === null ? 1 : 0;
}

interface StatusReport {
  store: {
    state: LocalStore["state"];
    path: string | null;
    error?: string;
    holder?: {
      owner: string;
      pid?: number;
      host?: string;
      expiresAt: string;
      live: boolean;
    } | null;
    pending?: {
      total: number;
      byPriority: Record<EventPriority, number>;
      bytes: number;
      oldest: { id: string; acceptedAt: string; ageMs: number } | null;
    };
    deadLetters?: number;
  };
  deadLetters: { local: number; broker: number | null; total: number | null };
  broker: { urls: string[]; queue: string; reachable: boolean; error?: string };
}

function storeStatus(ctx: Context, local: LocalStore): StatusReport["store"] {
  switch (local.state) {
    case "off":
      return { state: "off", path: null };
    case "missing":
      return { state: "missing", path: local.path };
    case "unreadable":
      return { state: "unreadable", path: local.path, error: local.error };
  }
  const { holder, pending } = local.view;
  return {
    state: "read",
    path: local.path,
    holder: holder === undefined ? null : {
      ...holder,
      expiresAt: new Date(holder.expiresAt).toISOString(),
      live: holder.expiresAt > ctx.now,
    },
    pending: {
      total: pending.total,
      byPriority: pending.byPriority,
      bytes: pending.bytes,
      oldest: pending.oldest === undefined ? null : {
        id: pending.oldest.id,
        acceptedAt: new Date(pending.oldest.acceptedAt).toISOString(),
        ageMs: Math.max(0, ctx.now - pending.oldest.acceptedAt),
      },
    },
    deadLetters: local.view.deadLetters.length,
  };
}

function statusText(ctx: Context, report: StatusReport): string {
  const { store, deadLetters, broker } = report;
  const rows: string[][] = [];
  if (store.state === "off") {
    rows.push([
      "store:",
      "none: persistence is off (RABBITMQ_BUFFER_PERSISTENCE, --store); a publisher in memory " +
      "mode holds its pending events in its own process",
    ]);
  } else if (store.state === "missing") {
    rows.push(["store:", `${store.path}: no such file (no publisher has used it yet)`]);
  } else if (store.state === "unreadable") {
    rows.push(["store:", `unreadable: ${store.error}`]);
  } else {
    const pending = store.pending!;
    const byPriority = PRIORITIES.map((priority) => `${priority} ${pending.byPriority[priority]}`);
    const oldest = pending.oldest;
    rows.push(
      ["store:", `${store.path} (${leaseText(ctx, store.holder ?? null)})`],
      [
        "pending:",
        `${pending.total} events, ${byteSize(pending.bytes)} (${byPriority.join(", ")})`,
      ],
      [
        "oldest pending:",
        oldest === null
          ? "-"
          : `${age(oldest.ageMs)} old: ${JSON.stringify(oldest.id)}, accepted ${oldest.acceptedAt}`,
      ],
    );
  }
  rows.push(
    [
      "dead letters:",
      `${deadLetters.local} local, ${deadLetters.broker ?? "unknown"} on the broker (queue ` +
      `${broker.queue}), ${deadLetters.total ?? "unknown"} in all`,
    ],
    [
      "broker:",
      broker.reachable ? `${broker.urls.join(", ")} answered` : `unavailable: ${broker.error}`,
    ],
  );
  return columns(rows);
}

function leaseText(ctx: Context, holder: StatusReport["store"]["holder"]): string {
  if (holder === null || holder === undefined) return "no publisher holds its lease";
  // The default owner already reads "pid <pid> on <host>".
  const process = holder.pid === undefined || holder.owner.includes(`pid ${holder.pid}`)
    ? ""
    : ` (pid ${holder.pid}${holder.host === undefined ? "" : ` on ${holder.host}`})`;
  const left = Date.parse(holder.expiresAt) - ctx.now;
  const lease = holder.live ? `lease valid for ${age(left)}` : `lease expired ${age(-left)} ago`;
  return `held by ${JSON.stringify(holder.owner)}${process}, ${lease}`;
}

function localCount(local: LocalStore): number {
  return local.state === "read" ? local.view.deadLetters.length : 0;
}

async function brokerCount(
  ctx: Context,
): Promise<{ broker: number | null; brokerError?: string }> {
  await using queue = openQueue(ctx);
  const { broker, brokerError } = await queue.count();
  return { broker, brokerError };
}
