/**
 * The operator's command-line tool for the dead-letter queue: list, show,
 * count, replay and purge dead letters, both those in the broker's
 * dead-letter queue and those a publisher still holds in its local store,
 * and `status`: what a publisher's store holds (pending events by priority,
 * bytes, the oldest) next to the broker's dead-letter count.
 *
 * It reads the same `RABBITMQ_*` variables as the publisher
 * (`RABBITMQ_URL`, `RABBITMQ_EXCHANGE`, `RABBITMQ_DEAD_LETTER_QUEUE`, ...);
 * `--exchange`, `--queue` and `--store` override them. With
 * `RABBITMQ_BUFFER_PERSISTENCE=true` (or `--store PATH`) it reads the Deno KV
 * store at `RABBITMQ_BUFFER_STORAGE_PATH` for local dead letters. Reading
 * takes no lease, so it works while a running publisher holds the store;
 * `replay` and `purge` leave such a publisher's local letters to it (it moves
 * them to the broker queue) and say so.
 *
 * With the broker down, the reading commands still show the local side and
 * report the broker part as unavailable (`"broker": null` in JSON), with exit
 * code 1.
 *
 * ```sh
 * deno task dlq status
 * deno task dlq list --reason expired --older-than 2h --limit 20
 * deno task dlq show evt-1
 * deno task dlq count --json
 * deno task dlq replay evt-1 evt-2
 * deno task dlq replay --type 'order.*' --json
 * deno task dlq purge --reason evicted --yes
 * deno task dlq purge --help
 * ```
 *
 * Exit codes: 0 on success; 1 when something failed, was not found, or could
 * only be partly read (no broker, an unreadable store); 2 on a usage or
 * configuration error.
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
import { type Command, helpText, parseArgs, UsageError, usageText } from "./src/cli/_args.ts";
import { purge, replay } from "./src/cli/_change.ts";
import { type Context, message } from "./src/cli/_context.ts";
import { count, list, show, status } from "./src/cli/_inspect.ts";

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
 * The usage text printed by `help`; `<command> --help` prints a command's own.
 *
 * @example
 * ```ts
 * import { USAGE } from "@simplycaster/rabbitmq-publisher/dlq";
 *
 * console.log(USAGE.split("\n")[0]); // Usage: deno task dlq <command> [options]
 * ```
 */
export const USAGE: string = usageText();

/**
 * Runs one command of the tool.
 *
 * @param args The command line, for example `["replay", "--all"]`.
 * @param io Output writers and the environment; the process's by default.
 * @returns The exit code: 0 on success; 1 when something failed, was not
 * found, or could only be partly read; 2 on a usage or configuration error
 * (with the reason on stderr).
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
 * const help: string[] = [];
 * await main(["replay", "-h"], { stdout: (text) => help.push(text) }); // replays nothing
 * console.log(help[0].split("\n")[0]); // Usage: deno task dlq replay ID... [--json]
 *
 * const err: string[] = [];
 * console.log(await main(["purge", "--all"], { stderr: (text) => err.push(text) })); // 2
 * console.log(err[0]); // dlq: 'purge --all' deletes dead letters for good: add --yes to confirm
 * ```
 *
 * @example
 * ```ts ignore
 * import { main } from "@simplycaster/rabbitmq-publisher/dlq";
 *
 * const out: string[] = [];
 * const code = await main(["list", "--json", "--reason", "expired"], {
 *   stdout: (text) => out.push(text),
 *   env: new Map([["RABBITMQ_EXCHANGE", "orders"]]),
 * });
 * console.log(code, JSON.parse(out.join("")));
 * ```
 */
export async function main(args: string[], io: CliIo = {}): Promise<number> {
  const stdout = io.stdout ?? writer(Deno.stdout);
  const stderr = io.stderr ?? writer(Deno.stderr);
  let ctx: Context;
  try {
    const command = parseArgs(args);
    if (command.help) {
      stdout(helpText(command.name));
      return 0;
    }
    const env = withOverrides(io.env ?? Deno.env, command);
    const rabbit = parseRabbitMQConfig(env);
    const config = parseAsyncPublishConfig(env);
    ctx = {
      command,
      urls: rabbit.urls,
      queue: rabbit.deadLetterQueue,
      publishTimeout: config.publishTimeout,
      buffer: config.bufferConfig,
      now: Date.now(),
      out: stdout,
      err: stderr,
    };
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
  try {
    return await COMMANDS[ctx.command.name](ctx);
  } catch (error) {
    stderr(`dlq: ${message(error)}\n`);
    return 1;
  }
}

const COMMANDS: Record<Command["name"], (ctx: Context) => Promise<number>> = {
  // `parseArgs` turns `help` into a help request, answered before any configuration is read.
  help: (ctx) => Promise.resolve((ctx.out(usageText()), 0)),
  list,
  show,
  count,
  status,
  replay,
  purge,
};

/** The environment with the command's `--exchange`, `--queue` and `--store` in front. */
function withOverrides(env: EnvReader, command: Command): EnvReader {
  const set = new Map<string, string>();
  if (command.exchange !== undefined) set.set("RABBITMQ_EXCHANGE", command.exchange);
  if (command.queue !== undefined) set.set("RABBITMQ_DEAD_LETTER_QUEUE", command.queue);
  if (command.store !== undefined) {
    set.set("RABBITMQ_BUFFER_PERSISTENCE", "true");
    set.set("RABBITMQ_BUFFER_STORAGE_PATH", command.store);
  }
  return { get: (name) => set.get(name) ?? env.get(name) };
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
