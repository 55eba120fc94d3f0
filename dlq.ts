/**
 * The operator's command-line tool for the dead-letter queue: list, count,
 * replay and purge dead letters, both those in the broker's dead-letter queue
 * and those a publisher still holds in its local store.
 *
 * It reads the same `RABBITMQ_*` variables as the publisher
 * (`RABBITMQ_URL`, `RABBITMQ_EXCHANGE`, `RABBITMQ_DEAD_LETTER_QUEUE`, ...).
 * With `RABBITMQ_BUFFER_PERSISTENCE=true` it also opens the Deno KV store at
 * `RABBITMQ_BUFFER_STORAGE_PATH` for local dead letters; when a running
 * publisher holds that store, it says so and works on the broker queue only.
 *
 * ```sh
 * deno task dlq list --limit 20
 * deno task dlq count --json
 * deno task dlq replay evt-1 evt-2
 * deno task dlq replay --all
 * deno task dlq purge --all --yes
 * ```
 *
 * Exit codes: 0 on success, 1 when something failed (a replay that failed,
 * no broker), 2 on a usage or configuration error.
 *
 * @example
 * ```ts ignore
 * import { main } from "@simplycaster/rabbitmq-publisher/dlq";
 *
 * const code = await main(["count", "--json"]);
 * console.log(code); // 0
 * ```
 *
 * @module
 */

import { maskCredentials } from "./src/_mask.ts";
import { parseAsyncPublishConfig, parseRabbitMQConfig } from "./src/config/env.ts";
import type { EnvReader } from "./src/config/types.ts";
import type { DeadLetter } from "./src/dead_letters/dead_letter.ts";
import { DeadLetterQueue } from "./src/dead_letters/queue.ts";
import { StoreLockedError } from "./src/errors.ts";
import { KvStore } from "./src/store/kv/kv_store.ts";
import type { PendingStore } from "./src/store/store.ts";

// CliIo names this type, so it is re-exported to keep this module's documentation complete.
export type { EnvReader } from "./src/config/types.ts";

/**
 * Where {@linkcode main} reads its configuration and writes its output.
 *
 * @example
 * ```ts
 * import { type CliIo, main } from "@simplycaster/rabbitmq-publisher/dlq";
 *
 * const errors: string[] = [];
 * const io: CliIo = {
 *   stdout: () => {},
 *   stderr: (text) => errors.push(text),
 *   env: new Map([["RABBITMQ_HEARTBEAT", "-1"]]),
 * };
 * console.log(await main(["count"], io)); // 2: a configuration error
 * console.log(errors[0]); // dlq: RABBITMQ_HEARTBEAT must be an integer from 0 to 65535 (seconds): got "-1"
 * ```
 */
export interface CliIo {
  /** Writes text to standard output. @default {writes to Deno.stdout} */
  stdout?: (text: string) => void;
  /** Writes text to standard error. @default {writes to Deno.stderr} */
  stderr?: (text: string) => void;
  /** The `RABBITMQ_*` variables. @default {Deno.env} */
  env?: EnvReader;
}

/**
 * The usage text printed by `help`.
 *
 * @example
 * ```ts
 * import { USAGE } from "@simplycaster/rabbitmq-publisher/dlq";
 *
 * console.log(USAGE.split("\n")[0]); // Usage: deno task dlq <command> [options]
 * ```
 */
export const USAGE = `Usage: deno task dlq <command> [options]

Commands:
  list [--limit N] [--json]       List dead letters (local first, then broker), removing none.
  count [--json]                  Count dead letters, local and in the broker queue.
  replay ID... [--json]           Republish these dead letters to their original exchange.
  replay --all [--json]           Republish every dead letter.
  purge ID...                     Delete these dead letters.
  purge --all --yes               Delete every dead letter.
  help                            Show this text.

Configuration comes from the RABBITMQ_* variables, as for the publisher
(RABBITMQ_URL, RABBITMQ_EXCHANGE, RABBITMQ_DEAD_LETTER_QUEUE, and
RABBITMQ_BUFFER_PERSISTENCE / RABBITMQ_BUFFER_STORAGE_PATH for local dead letters).

Exit codes: 0 success, 1 failure, 2 usage or configuration error.
`;

const FLAGS: Record<string, readonly string[]> = {
  list: ["--limit", "--json"],
  count: ["--json"],
  replay: ["--all", "--json"],
  purge: ["--all", "--yes"],
  help: [],
};
const LAST_ERROR_WIDTH = 40;
const PROGRESS_INTERVAL_MS = 1_000;

class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

interface Command {
  name: string;
  ids: string[];
  all: boolean;
  yes: boolean;
  json: boolean;
  limit: number;
}

/**
 * Runs one command of the tool.
 *
 * @param args The command line, for example `["replay", "--all"]`.
 * @param io Output writers and the environment; the process's by default.
 * @returns The exit code: 0 on success, 1 when something failed, 2 on a usage
 * or configuration error (with the reason on stderr).
 * @throws {Deno.errors.NotCapable} When reading the environment is not
 * permitted (`--allow-env`); every other failure becomes an exit code.
 *
 * @example
 * ```ts
 * import { main } from "@simplycaster/rabbitmq-publisher/dlq";
 *
 * const out: string[] = [];
 * const code = await main(["help"], { stdout: (text) => out.push(text) });
 * console.log(code, out[0].startsWith("Usage:")); // 0 true
 *
 * const err: string[] = [];
 * console.log(await main(["purge", "--all"], { stderr: (text) => err.push(text) })); // 2
 * console.log(err[0]); // dlq: 'purge --all' deletes every dead letter for good: add --yes to confirm
 * ```
 *
 * @example
 * ```ts ignore
 * import { main } from "@simplycaster/rabbitmq-publisher/dlq";
 *
 * const out: string[] = [];
 * const code = await main(["list", "--json"], {
 *   stdout: (text) => out.push(text),
 *   env: new Map([["RABBITMQ_EXCHANGE", "orders"]]),
 * });
 * console.log(code, JSON.parse(out.join("")));
 * ```
 */
export async function main(args: string[], io: CliIo = {}): Promise<number> {
  const stdout = io.stdout ?? writer(Deno.stdout);
  const stderr = io.stderr ?? writer(Deno.stderr);
  const env = io.env ?? Deno.env;
  let command: Command;
  let rabbit: ReturnType<typeof parseRabbitMQConfig>;
  let config: ReturnType<typeof parseAsyncPublishConfig>;
  try {
    command = parseArgs(args);
    if (command.name === "help") {
      stdout(USAGE);
      return 0;
    }
    rabbit = parseRabbitMQConfig(env);
    config = parseAsyncPublishConfig(env);
  } catch (error) {
    if (
      !(error instanceof UsageError || error instanceof TypeError || error instanceof RangeError)
    ) {
      throw error;
    }
    stderr(`dlq: ${maskCredentials(error.message)}\n`);
    if (error instanceof UsageError) stderr("Run 'deno task dlq help' for usage.\n");
    return 2;
  }

  let store: PendingStore | undefined;
  try {
    store = await openLocalStore(config, stderr);
    await using dlq = new DeadLetterQueue({
      urls: rabbit.urls,
      queue: rabbit.deadLetterQueue,
      store,
      publishTimeout: config.publishTimeout,
      // Failures are reported on stdout/stderr by each command.
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    switch (command.name) {
      case "list":
        return await list(dlq, command, stdout, stderr);
      case "count":
        return await count(dlq, command, stdout);
      case "replay":
        return await replay(dlq, command, stdout, stderr);
      default:
        return await purge(dlq, command, stdout);
    }
  } catch (error) {
    stderr(`dlq: ${maskCredentials(error instanceof Error ? error.message : String(error))}\n`);
    return 1;
  } finally {
    await store?.close();
  }
}

function parseArgs(args: readonly string[]): Command {
  const [name, ...rest] = args;
  if (name === undefined) throw new UsageError("missing command");
  if (name === "--help" || name === "-h") return parseArgs(["help"]);
  const allowed = FLAGS[name];
  if (allowed === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  const command: Command = { name, ids: [], all: false, yes: false, json: false, limit: 100 };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (!arg.startsWith("--")) {
      if (name !== "replay" && name !== "purge") {
        throw new UsageError(`'${name}' takes no arguments: got ${JSON.stringify(arg)}`);
      }
      command.ids.push(arg);
      continue;
    }
    const [flag, inline] = arg.split(/=(.*)/s, 2);
    if (!allowed.includes(flag)) {
      throw new UsageError(`'${name}' does not take ${flag}`);
    }
    if (flag === "--limit") {
      const value = inline ?? rest[++i];
      const limit = Number(value);
      if (
        value === undefined || !/^\d+$/.test(value) || !Number.isSafeInteger(limit) || limit < 1
      ) {
        throw new UsageError(`--limit must be a positive integer: got ${JSON.stringify(value)}`);
      }
      command.limit = limit;
      continue;
    }
    if (inline !== undefined) throw new UsageError(`${flag} takes no value`);
    if (flag === "--all") command.all = true;
    if (flag === "--yes") command.yes = true;
    if (flag === "--json") command.json = true;
  }
  if (name === "replay" || name === "purge") {
    if (command.all && command.ids.length > 0) {
      throw new UsageError(`'${name}' takes either ids or --all, not both`);
    }
    if (!command.all && command.ids.length === 0) {
      throw new UsageError(`'${name}' needs the ids of the dead letters, or --all for every one`);
    }
    if (name === "purge" && command.all && !command.yes) {
      throw new UsageError(
        "'purge --all' deletes every dead letter for good: add --yes to confirm",
      );
    }
  }
  return command;
}

/** Opens the local store when persistence is configured and the file exists; `undefined` otherwise. */
async function openLocalStore(
  config: ReturnType<typeof parseAsyncPublishConfig>,
  stderr: (text: string) => void,
): Promise<PendingStore | undefined> {
  const buffer = config.bufferConfig;
  if (!buffer.enablePersistence) return undefined;
  const path = buffer.persistentStoragePath;
  try {
    await Deno.stat(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    stderr(`dlq: no local store at ${path}: showing the broker queue only\n`);
    return undefined;
  }
  try {
    return await KvStore.open({
      path,
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
    stderr(
      `dlq: ${error.message}; its local dead letters are left out, showing the broker queue ` +
        `only (the publisher moves them there while connected)\n`,
    );
    return undefined;
  }
}

async function list(
  dlq: DeadLetterQueue,
  command: Command,
  stdout: (text: string) => void,
  stderr: (text: string) => void,
): Promise<number> {
  const letters = await dlq.list({ limit: command.limit });
  if (command.json) {
    stdout(JSON.stringify(letters.map(toJson), null, 2) + "\n");
  } else if (letters.length === 0) {
    stdout("no dead letters\n");
  } else {
    stdout(table(letters));
  }
  if (letters.length === command.limit) {
    stderr(`dlq: showing the first ${command.limit}; use --limit N for more\n`);
  }
  return 0;
}

async function count(
  dlq: DeadLetterQueue,
  command: Command,
  stdout: (text: string) => void,
): Promise<number> {
  const counts = await dlq.count();
  stdout(
    command.json
      ? JSON.stringify(counts) + "\n"
      : `local:  ${counts.local}\nbroker: ${counts.broker}\ntotal:  ${counts.total}\n`,
  );
  return 0;
}

async function replay(
  dlq: DeadLetterQueue,
  command: Command,
  stdout: (text: string) => void,
  stderr: (text: string) => void,
): Promise<number> {
  let lastProgress = Date.now();
  const verb = command.all ? "replayed" : "examined";
  const result = await dlq.replay(command.all ? undefined : command.ids, {
    onProgress: (done, total) => {
      const now = Date.now();
      if (now - lastProgress < PROGRESS_INTERVAL_MS && done < total) return;
      lastProgress = now;
      stderr(`${verb} ${done}/${total}\n`);
    },
  });
  if (command.json) {
    stdout(JSON.stringify(result, null, 2) + "\n");
  } else {
    stdout(`replayed ${result.replayed.length}, failed ${result.failed.length}\n`);
    for (const { id, error } of result.failed) stdout(`  ${id}: ${error}\n`);
  }
  return result.failed.length > 0 ? 1 : 0;
}

async function purge(
  dlq: DeadLetterQueue,
  command: Command,
  stdout: (text: string) => void,
): Promise<number> {
  const deleted = await dlq.purge(command.all ? undefined : command.ids);
  stdout(`purged ${deleted} dead letter${deleted === 1 ? "" : "s"}\n`);
  return 0;
}

/** A dead letter for JSON output: times as ISO 8601, the body parsed when it is JSON. */
function toJson(letter: DeadLetter): Record<string, unknown> {
  const iso = (ms: number | undefined) => ms === undefined ? undefined : new Date(ms).toISOString();
  let body: unknown = letter.body;
  try {
    body = JSON.parse(letter.body);
  } catch {
    // Not JSON: shown as the text it is.
  }
  return {
    ...letter,
    acceptedAt: iso(letter.acceptedAt),
    firstFailureAt: iso(letter.firstFailureAt),
    lastFailureAt: iso(letter.lastFailureAt),
    deadLetteredAt: iso(letter.deadLetteredAt),
    body,
    properties: { ...letter.properties, timestamp: iso(letter.properties.timestamp) },
  };
}

function table(letters: readonly DeadLetter[]): string {
  const header = ["ID", "TYPE", "REASON", "ATTEMPTS", "LAST ERROR", "DEAD-LETTERED AT", "LOCATION"];
  const rows = letters.map((letter) => [
    letter.id,
    letter.type,
    letter.reason,
    String(letter.attempts),
    truncate(
      [letter.errorName, letter.errorMessage].filter(Boolean).join(": ") || "-",
      LAST_ERROR_WIDTH,
    ),
    new Date(letter.deadLetteredAt).toISOString(),
    letter.location,
  ]);
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => row[i].length))
  );
  const line = (cells: string[]) =>
    cells.map((cell, i) => i === cells.length - 1 ? cell : cell.padEnd(widths[i])).join("  ") +
    "\n";
  return line(header) + rows.map(line).join("");
}

function truncate(text: string, width: number): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length <= width ? flat : flat.slice(0, width - 1) + "…";
}

function writer(stream: { writeSync(data: Uint8Array): number }): (text: string) => void {
  const encoder = new TextEncoder();
  return (text) => {
    const data = encoder.encode(text);
    let written = 0;
    while (written < data.length) written += stream.writeSync(data.subarray(written));
  };
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
