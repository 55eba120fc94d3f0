// What every command of the dead-letter tool shares: its configuration and
// output, the broker's dead-letter queue, and the local store read as a
// snapshot. Reading one side never depends on the other: with the broker
// down the local letters are still shown, and the broker part is reported
// unavailable.

import { maskCredentials } from "../_mask.ts";
import type { ResolvedEventBufferConfig } from "../config/types.ts";
import type { DeadLetter } from "../dead_letters/dead_letter.ts";
import { fromRecord } from "../dead_letters/_headers.ts";
import { mergeLetters } from "../dead_letters/_merge.ts";
import { DeadLetterQueue } from "../dead_letters/queue.ts";
import type { Logger } from "../logger.ts";
import type { PendingStore } from "../store/store.ts";
import type { Command } from "./_args.ts";
import { KvSnapshot } from "../store/kv/_snapshot.ts";

/** A command's configuration and output. */
export interface Context {
  command: Command;
  urls: readonly string[];
  /** The broker's dead-letter queue. */
  queue: string;
  publishTimeout: number;
  buffer: ResolvedEventBufferConfig;
  /** The time the command started: ages and `--older-than` are measured from it. */
  now: number;
  out: (text: string) => void;
  err: (text: string) => void;
}

/** The local store as a command found it. */
export type LocalStore =
  | { state: "off" }
  | { state: "missing"; path: string }
  | { state: "unreadable"; path: string; error: string }
  | { state: "read"; path: string; view: KvSnapshot };

/** Every dead letter of both places, each once, or the reason a place could not be read. */
export interface Letters {
  local: LocalStore;
  /** The merged list: local first, then the broker's. */
  letters: DeadLetter[];
  /** Why the broker queue could not be read; `undefined` when it was. */
  brokerError?: string;
}

/** Reads as many of the broker's dead letters as the queue holds. */
export const ALL = Number.MAX_SAFE_INTEGER;

/** Failures are reported by each command, on stdout and stderr. */
export const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A handle on the broker's dead-letter queue, with or without a local store. */
export function openQueue(ctx: Context, store?: PendingStore): DeadLetterQueue {
  return new DeadLetterQueue({
    urls: ctx.urls,
    queue: ctx.queue,
    store,
    publishTimeout: ctx.publishTimeout,
    logger: silent,
  });
}

/**
 * Reads the local store when persistence is configured and the file exists,
 * as a snapshot that takes no lease (a running publisher keeps its store).
 */
export async function readLocalStore(ctx: Context): Promise<LocalStore> {
  if (!ctx.buffer.enablePersistence) return { state: "off" };
  const path = ctx.buffer.persistentStoragePath;
  try {
    await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { state: "missing", path };
    return { state: "unreadable", path, error: `cannot read ${path}: ${message(error)}` };
  }
  try {
    return { state: "read", path, view: await KvSnapshot.open(path) };
  } catch (error) {
    return { state: "unreadable", path, error: message(error) };
  }
}

/**
 * The local dead letters, then up to `brokerLimit` of the broker's, each
 * letter once. The broker queue may be down: then `brokerError` says why.
 */
export async function readLetters(ctx: Context, brokerLimit: number): Promise<Letters> {
  const local = await readLocalStore(ctx);
  const mine = local.state === "read" ? localLetters(local.view) : [];
  await using queue = openQueue(ctx);
  const broker = await queue.list({ limit: brokerLimit });
  return { local, letters: mergeLetters(mine, broker.letters), brokerError: broker.brokerError };
}

/** The snapshot's dead letters, as the queue shows them. */
export function localLetters(view: KvSnapshot): DeadLetter[] {
  return view.deadLetters.map(fromRecord);
}

/**
 * Says on stderr what could not be read, and whether that leaves the answer
 * partial (exit 1).
 *
 * @returns Whether something could not be read.
 */
export function reportGaps(ctx: Context, found: Omit<Letters, "letters">): boolean {
  let partial = false;
  const { local } = found;
  if (local.state === "missing") {
    ctx.err(`dlq: no local store at ${local.path}: showing the broker queue only\n`);
  }
  if (local.state === "unreadable") {
    ctx.err(`dlq: ${local.error}\n`);
    partial = true;
  }
  if (found.brokerError !== undefined) {
    ctx.err(`dlq: the broker queue ${ctx.queue} could not be read: ${found.brokerError}\n`);
    partial = true;
  }
  return partial;
}

/** An error's message, credentials masked. */
export function message(error: unknown): string {
  return maskCredentials(error instanceof Error ? error.message : String(error));
}
