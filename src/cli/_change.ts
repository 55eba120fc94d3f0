// The dead-letter tool's changing commands: `replay` and `purge`. They take
// the store's lease to change local dead letters; while a running publisher
// holds it, its local letters are left to it (it moves them to the broker
// queue) and reported as held.

import type { DeadLetter } from "../dead_letters/dead_letter.ts";
import type { DeadLetterQueue } from "../dead_letters/queue.ts";
import { StoreLockedError } from "../errors.ts";
import { KvStore } from "../store/kv/kv_store.ts";
import { ALL, type Context, localLetters, openQueue, readLocalStore } from "./_context.ts";
import { isFiltered, matcher } from "./_select.ts";

const PROGRESS_INTERVAL_MS = 1_000;
// The words DeadLetterQueue.replay() uses for an id it did not find.
const NOT_FOUND = "not found in the dead letters";

/** The letters a command may change, and those a running publisher holds. */
interface Target {
  queue: DeadLetterQueue;
  /** Local letters of a store another publisher holds: seen, not changeable here. */
  held: DeadLetter[];
  /** Who holds them. */
  holder?: string;
  close(): Promise<void>;
}

/** What a selection found. */
interface Selection {
  /** The ids to replay or purge. */
  ids: string[];
  /** Ids asked for that only a running publisher's store holds. */
  held: string[];
  /** Ids asked for that were not found, with why. */
  missing: { id: string; error: string }[];
}

/** `replay`: republishes the selected dead letters; exit 1 when one failed or was not found. */
export async function replay(ctx: Context): Promise<number> {
  const target = await openTarget(ctx);
  try {
    const { all, filter, ids } = ctx.command;
    let lastProgress = ctx.now;
    const onProgress = (done: number, total: number) => {
      const now = Date.now();
      if (now - lastProgress < PROGRESS_INTERVAL_MS && done < total) return;
      lastProgress = now;
      ctx.err(`examined ${done}/${total} dead letters\n`);
    };
    let selection: Selection;
    let result;
    if (all && !isFiltered(filter)) {
      selection = { ids: [], held: target.held.map((letter) => letter.id), missing: [] };
      result = await target.queue.replay(undefined, { onProgress });
    } else {
      selection = await select(ctx, target);
      result = selection.ids.length === 0
        ? { replayed: [], failed: [] }
        : await target.queue.replay(selection.ids, { onProgress });
      result.failed.push(...selection.missing);
    }
    const held = unique(selection.held);
    if (ctx.command.json) {
      ctx.out(JSON.stringify({ ...result, held }, null, 2) + "\n");
    } else {
      ctx.out(`replayed ${result.replayed.length}, failed ${result.failed.length}\n`);
      for (const { id, error } of result.failed) ctx.out(`  ${id}: ${error}\n`);
    }
    reportHeld(ctx, target, held);
    const heldNamed = ids.length > 0 && held.length > 0;
    return result.failed.length > 0 || heldNamed ? 1 : 0;
  } finally {
    await target.close();
  }
}

/** `purge`: deletes the selected dead letters; exit 1 when an id was not found. */
export async function purge(ctx: Context): Promise<number> {
  const target = await openTarget(ctx);
  try {
    const { all, filter, ids } = ctx.command;
    let selection: Selection;
    let purged: number;
    if (all && !isFiltered(filter)) {
      selection = { ids: [], held: target.held.map((letter) => letter.id), missing: [] };
      purged = await target.queue.purge();
    } else {
      selection = await select(ctx, target);
      purged = selection.ids.length === 0 ? 0 : await target.queue.purge(selection.ids);
    }
    const held = unique(selection.held);
    const unresolved = selection.missing.length + (ids.length > 0 ? held.length : 0);
    if (ctx.command.json) {
      ctx.out(JSON.stringify({ purged, notFound: selection.missing, held }, null, 2) + "\n");
    } else {
      // "purged 0" would read as success when the ids named were missing or held.
      if (purged > 0 || unresolved === 0) {
        ctx.out(`purged ${purged} dead letter${purged === 1 ? "" : "s"}\n`);
      }
    }
    for (const { id, error } of selection.missing) {
      ctx.err(
        error === NOT_FOUND
          ? `dlq: no dead letter with id ${JSON.stringify(id)}\n`
          : `dlq: dead letter ${JSON.stringify(id)} ${error}\n`,
      );
    }
    reportHeld(ctx, target, held);
    return unresolved > 0 ? 1 : 0;
  } finally {
    await target.close();
  }
}

/**
 * The queue to change dead letters through: with the local store when this
 * process can take its lease; with the broker queue only, and the store's
 * letters read as held, while a running publisher owns it.
 *
 * @throws {Error} When the store exists but cannot be opened (not locked: broken).
 */
async function openTarget(ctx: Context): Promise<Target> {
  const { buffer } = ctx;
  const local = await readLocalStore(ctx);
  if (local.state === "unreadable") throw new Error(local.error);
  if (local.state !== "read") return brokerOnly(ctx, []);
  let store: KvStore;
  try {
    store = await KvStore.open({
      path: local.path,
      limits: {
        maxEvents: buffer.maxBufferSize,
        maxBytes: buffer.maxPersistentSize,
        overflow: buffer.overflowPolicy,
      },
      // Only the dead letters are read: keep as few pending records in memory as possible.
      memoryLimit: 1,
    });
  } catch (error) {
    if (!(error instanceof StoreLockedError)) throw error;
    return brokerOnly(ctx, localLetters(local.view), error.owner);
  }
  const queue = openQueue(ctx, store);
  return {
    queue,
    held: [],
    close: async () => {
      await queue.close();
      await store.close();
    },
  };
}

function brokerOnly(ctx: Context, held: DeadLetter[], holder?: string): Target {
  const queue = openQueue(ctx);
  return { queue, held, holder, close: () => queue.close() };
}

/**
 * Resolves the command's ids and filters against every dead letter it can
 * change, and those held by a running publisher.
 */
async function select(ctx: Context, target: Target): Promise<Selection> {
  const { ids, filter } = ctx.command;
  const listing = await target.queue.list({ limit: ALL });
  // Changing only what one side holds would be a surprise: no broker, no change.
  if (!listing.brokerAvailable) throw new Error(listing.brokerError);
  const letters = listing.letters;
  const named = ids.length === 0 ? undefined : new Set(ids);
  const match = matcher(filter, ctx.now);
  const pick = (letter: DeadLetter) => (named?.has(letter.id) ?? true) && match(letter);
  const chosen = unique(letters.filter(pick).map((letter) => letter.id));
  const held = unique(target.held.filter(pick).map((letter) => letter.id))
    .filter((id) => !chosen.includes(id));
  const known = new Set([...letters, ...target.held].map((letter) => letter.id));
  const missing = [...new Set(ids)]
    .filter((id) => !chosen.includes(id) && !held.includes(id))
    .map((id) => ({
      id,
      error: known.has(id) ? "does not match the filters" : NOT_FOUND,
    }));
  return { ids: chosen, held, missing };
}

function reportHeld(ctx: Context, target: Target, held: readonly string[]): void {
  if (target.holder === undefined) return;
  const path = ctx.buffer.persistentStoragePath;
  const left = held.length === 0
    ? "its local dead letters were left alone"
    : `${held.length} matching local dead letter${held.length === 1 ? " was" : "s were"} ` +
      `left alone (${held.slice(0, 5).join(", ")}${held.length > 5 ? ", ..." : ""})`;
  ctx.err(
    `dlq: the event store at ${path} is held by a running publisher (${target.holder}): ` +
      `${left}; it moves them to the broker queue while connected, where this command ` +
      `reaches them\n`,
  );
}

function unique(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}
