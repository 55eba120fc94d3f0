// The dead-letter tool's command line: which commands there are, which
// options each takes, their help texts, and parsing (with durations and
// filters) into one `Command`. Nothing here touches the broker or a store.

import { ASYNC_RULES, check, RABBITMQ_RULES, type Rule } from "../config/_rules.ts";
import { DEAD_LETTER_REASONS } from "../store/store.ts";
import type { LetterFilter } from "./_select.ts";

/** A mistake on the command line: reported with exit code 2 and a pointer to the help. */
export class UsageError extends Error {
  /** @param message What is wrong, naming the option or argument. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The commands, in the order the help lists them. */
export const COMMAND_NAMES = [
  "list",
  "show",
  "count",
  "status",
  "replay",
  "purge",
  "help",
] as const;
/** One of {@linkcode COMMAND_NAMES}. */
export type CommandName = typeof COMMAND_NAMES[number];

/** One parsed command line. */
export interface Command {
  name: CommandName;
  /** `--help`/`-h` was given (or `help COMMAND`): print {@linkcode helpText} for `name`. */
  help: boolean;
  ids: string[];
  all: boolean;
  yes: boolean;
  json: boolean;
  limit: number;
  filter: LetterFilter;
  /** `--exchange`, `--queue`, `--store`: override the environment. */
  exchange?: string;
  queue?: string;
  store?: string;
}

type Flag =
  | "--limit"
  | "--all"
  | "--yes"
  | "--json"
  | "--reason"
  | "--type"
  | "--older-than"
  | "--exchange"
  | "--queue"
  | "--store";

// Every flag: its value's placeholder (none for a switch) and its help line.
const FLAGS: Record<Flag, { value?: string; help: string }> = {
  "--limit": { value: "N", help: "show at most N dead letters (default 100)" },
  "--all": { help: "every dead letter (that matches the filters)" },
  "--yes": { help: "confirm a purge that names no ids" },
  "--json": { help: "print JSON instead of text, with the same numbers" },
  "--reason": {
    value: "REASON",
    help: `only dead letters with this reason; repeat or comma-separate for several:\n` +
      `${DEAD_LETTER_REASONS.slice(0, 5).join(", ")},\n` +
      `${[...DEAD_LETTER_REASONS.slice(5), "unknown"].join(", ")}`,
  },
  "--type": { value: "TYPE", help: "only events of this type; * matches any text (repeatable)" },
  "--older-than": {
    value: "DURATION",
    help: "only those dead-lettered more than DURATION ago: 30s, 10m, 2h, 1d, 1h30m",
  },
  "--exchange": {
    value: "NAME",
    help: "the publisher's exchange (overrides RABBITMQ_EXCHANGE); its dead-letter\n" +
      "queue is NAME.dead-letter, unless RABBITMQ_DEAD_LETTER_QUEUE or --queue\n" +
      "names another",
  },
  "--queue": {
    value: "NAME",
    help: "the dead-letter queue (overrides RABBITMQ_DEAD_LETTER_QUEUE)",
  },
  "--store": {
    value: "PATH",
    help: "the publisher's Deno KV store file, read for local dead letters\n" +
      "(overrides RABBITMQ_BUFFER_STORAGE_PATH and RABBITMQ_BUFFER_PERSISTENCE)",
  },
};
const COMMON: readonly Flag[] = ["--json", "--exchange", "--queue", "--store"];
const FILTERS: readonly Flag[] = ["--reason", "--type", "--older-than"];

interface Spec {
  usage: string[];
  /** One line for the overview. */
  brief: string;
  summary: string;
  details?: string;
  flags: readonly Flag[];
  /** Takes ids as arguments. */
  ids?: boolean;
}

const SPECS: Record<CommandName, Spec> = {
  list: {
    usage: ["list [--reason R] [--type T] [--older-than D] [--limit N] [--json]"],
    brief: "List dead letters, filtered, removing none.",
    summary: "List dead letters (local first, then the broker queue), removing none.",
    flags: ["--limit", ...FILTERS, ...COMMON],
  },
  show: {
    usage: ["show ID... [--json]"],
    brief: "Show whole dead letters: body, headers, error and times.",
    summary: "Show whole dead letters: body, headers, properties, error and times.",
    details: "Exits 1 when an id is not found.",
    flags: COMMON,
    ids: true,
  },
  count: {
    usage: ["count [--json]"],
    brief: "Count dead letters, local and in the broker queue.",
    summary: "Count dead letters, local and in the broker queue.",
    flags: COMMON,
  },
  status: {
    usage: ["status [--json]"],
    brief: "Pending events, their bytes and age, and dead letters, local and broker.",
    summary: "Pending events by priority, their bytes and oldest age, and the dead letters,\n" +
      "read from the store file (read-only, also while a publisher holds it) and the broker.",
    flags: COMMON,
  },
  replay: {
    usage: ["replay ID... [--json]", "replay --all | FILTERS [--json]"],
    brief: "Republish dead letters to their original exchange.",
    summary: "Republish dead letters to their original exchange; each leaves the dead\n" +
      "letters only once RabbitMQ confirmed it.",
    details: "Exits 1 when a replay failed or an id is not found.",
    flags: ["--all", ...FILTERS, ...COMMON],
    ids: true,
  },
  purge: {
    usage: ["purge ID... [--json]", "purge --all | FILTERS --yes [--json]"],
    brief: "Delete dead letters for good.",
    summary: "Delete dead letters for good.",
    details: "Naming no ids (--all, or filters only) needs --yes. Exits 1 when an id is not found.",
    flags: ["--all", "--yes", ...FILTERS, ...COMMON],
    ids: true,
  },
  help: {
    usage: ["help [COMMAND]"],
    brief: "Show this text, or a command's.",
    summary: "Show this text, or a command's.",
    flags: [],
  },
};

const PROGRAM = "deno task dlq";
const FLAG_COLUMN = 24;

/** The general help: every command and the shared options. */
export function usageText(): string {
  const lines = [`Usage: ${PROGRAM} <command> [options]`, "", "Commands:"];
  for (const name of COMMAND_NAMES) {
    lines.push(`  ${name.padEnd(8)}${SPECS[name].brief}`);
  }
  lines.push(
    "",
    "Options of every command:",
    ...flagLines(COMMON),
    "",
    `Run '${PROGRAM} <command> --help' for a command's options.`,
    "",
    "Configuration comes from the RABBITMQ_* variables, as for the publisher",
    "(RABBITMQ_URL, RABBITMQ_EXCHANGE, RABBITMQ_DEAD_LETTER_QUEUE, and",
    "RABBITMQ_BUFFER_PERSISTENCE / RABBITMQ_BUFFER_STORAGE_PATH for local dead letters);",
    "the options above override them.",
    "",
    "Exit codes: 0 success; 1 failure, not found, or a partial answer (the broker or the",
    "store could not be read); 2 usage or configuration error.",
    "",
  );
  return lines.join("\n");
}

/** The help of one command. */
export function helpText(name: CommandName): string {
  if (name === "help") return usageText();
  const spec = SPECS[name];
  const lines = spec.usage.map((usage, i) =>
    `${i === 0 ? "Usage:" : "      "} ${PROGRAM} ${usage}`
  );
  lines.push("", spec.summary);
  if (spec.details !== undefined) lines.push(spec.details);
  lines.push("", "Options:", ...flagLines(spec.flags));
  if (spec.flags.includes("--reason")) {
    lines.push("", "Filters narrow the selection; given together, a dead letter must match all.");
  }
  lines.push("");
  return lines.join("\n");
}

function flagLines(flags: readonly Flag[]): string[] {
  const rows: [string, string][] = flags.map((flag) => {
    const { value, help } = FLAGS[flag];
    return [value === undefined ? flag : `${flag} ${value}`, help];
  });
  rows.push(["-h, --help", "show this help"]);
  const lines: string[] = [];
  for (const [name, help] of rows) {
    const [first, ...rest] = help.split("\n");
    lines.push(`  ${name.padEnd(FLAG_COLUMN)}${first}`);
    for (const more of rest) lines.push(`  ${"".padEnd(FLAG_COLUMN)}${more}`);
  }
  return lines;
}

/**
 * Parses a command line. `--help`/`-h` anywhere before `--` wins over every
 * other argument (so `replay -h` never replays an id called `-h`); ids that
 * start with `-` follow `--`.
 *
 * @throws {UsageError} When the command, an option or a value is wrong.
 */
export function parseArgs(args: readonly string[]): Command {
  const [first, ...rest] = args;
  if (first === undefined) throw new UsageError("missing command");
  if (first === "--help" || first === "-h") return blank("help", true);
  if (!(COMMAND_NAMES as readonly string[]).includes(first)) {
    throw new UsageError(`unknown command ${JSON.stringify(first)}`);
  }
  const name = first as CommandName;
  const end = rest.indexOf("--");
  const options = end === -1 ? rest : rest.slice(0, end);
  if (options.includes("--help") || options.includes("-h")) return blank(name, true);
  if (name === "help") return parseHelp(rest);

  const spec = SPECS[name];
  const command = blank(name, false);
  const reasons: string[] = [];
  const types: string[] = [];
  for (let i = 0; i < options.length; i++) {
    const arg = options[i];
    if (!arg.startsWith("-") || arg === "-") {
      if (!spec.ids) {
        throw new UsageError(`'${name}' takes no arguments: got ${JSON.stringify(arg)}`);
      }
      command.ids.push(arg);
      continue;
    }
    const [flag, inline] = arg.split(/=(.*)/s, 2) as [string, string | undefined];
    if (!(flag in FLAGS)) throw new UsageError(`unknown option ${flag}`);
    if (!spec.flags.includes(flag as Flag)) {
      throw new UsageError(`'${name}' does not take ${flag}`);
    }
    const takesValue = FLAGS[flag as Flag].value !== undefined;
    if (!takesValue) {
      if (inline !== undefined) throw new UsageError(`${flag} takes no value`);
      if (flag === "--all") command.all = true;
      if (flag === "--yes") command.yes = true;
      if (flag === "--json") command.json = true;
      continue;
    }
    const value = inline ?? options[++i];
    if (value === undefined) {
      throw new UsageError(`${flag} needs a value: ${flag} ${FLAGS[flag as Flag].value}`);
    }
    switch (flag as Flag) {
      case "--limit":
        command.limit = parseLimit(value);
        break;
      case "--reason":
        reasons.push(...value.split(","));
        break;
      case "--type":
        types.push(value);
        break;
      case "--older-than":
        command.filter.olderThanMs = parseDuration(value, "--older-than");
        break;
      case "--exchange":
        command.exchange = checked("--exchange", value, RABBITMQ_RULES.exchange);
        break;
      case "--queue":
        command.queue = checked("--queue", value, RABBITMQ_RULES.deadLetterQueue);
        break;
      default:
        command.store = checked(
          "--store",
          value,
          ASYNC_RULES["bufferConfig.persistentStoragePath"],
        );
    }
  }
  if (end !== -1) {
    if (!spec.ids) throw new UsageError(`'${name}' takes no arguments`);
    command.ids.push(...rest.slice(end + 1));
  }
  if (reasons.length > 0) command.filter.reasons = parseReasons(reasons);
  if (types.length > 0) command.filter.types = types;
  checkSelection(command);
  return command;
}

function blank(name: CommandName, help: boolean): Command {
  return { name, help, ids: [], all: false, yes: false, json: false, limit: 100, filter: {} };
}

function parseHelp(rest: readonly string[]): Command {
  if (rest.length > 1) throw new UsageError("'help' takes at most one command");
  const [topic] = rest;
  if (topic === undefined) return blank("help", true);
  if (!(COMMAND_NAMES as readonly string[]).includes(topic)) {
    throw new UsageError(`unknown command ${JSON.stringify(topic)}`);
  }
  return blank(topic as CommandName, true);
}

function checkSelection(command: Command): void {
  const { name, ids, all } = command;
  const filtered = Object.keys(command.filter).length > 0;
  if (name === "show" && ids.length === 0) {
    throw new UsageError("'show' needs the ids of the dead letters to show");
  }
  if (name !== "replay" && name !== "purge") return;
  if (all && ids.length > 0) {
    throw new UsageError(`'${name}' takes either ids or --all, not both`);
  }
  if (!all && ids.length === 0 && !filtered) {
    throw new UsageError(
      `'${name}' needs the ids of the dead letters, --all for every one, or filters`,
    );
  }
  if (name === "purge" && ids.length === 0 && !command.yes) {
    throw new UsageError(
      `'purge ${all ? "--all" : "with filters"}' deletes dead letters for good: ` +
        `add --yes to confirm`,
    );
  }
}

function parseLimit(value: string): number {
  const limit = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(limit) || limit < 1) {
    throw new UsageError(`--limit must be a positive integer: got ${JSON.stringify(value)}`);
  }
  return limit;
}

function parseReasons(values: readonly string[]): string[] {
  const known: readonly string[] = [...DEAD_LETTER_REASONS, "unknown"];
  const reasons = values.map((value) => value.trim());
  for (const reason of reasons) {
    if (!known.includes(reason)) {
      throw new UsageError(
        `--reason must be one of ${known.join(", ")}: got ${JSON.stringify(reason)}`,
      );
    }
  }
  return reasons;
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * A duration such as `90s`, `10m`, `2h`, `1d` or `1h30m`, in ms.
 *
 * @throws {UsageError} Naming `flag` when the text is not such a duration, or is 0.
 */
export function parseDuration(text: string, flag: string): number {
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const match = part.exec(text);
    if (match === null) break;
    total += Number(match[1]) * UNIT_MS[match[2]];
    at = part.lastIndex;
  }
  if (text === "" || at < text.length || !(total > 0) || !Number.isFinite(total)) {
    throw new UsageError(
      `${flag} must be a duration like 30s, 10m, 2h, 1d or 1h30m: got ${JSON.stringify(text)}`,
    );
  }
  return total;
}

/** The value, after `rule` (from the config rules) accepted it under the flag's name. */
function checked(flag: string, value: string, rule: Rule): string {
  try {
    check(flag, value, rule);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return value;
}
