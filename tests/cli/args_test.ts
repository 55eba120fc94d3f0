import assert from "node:assert/strict";
import {
  COMMAND_NAMES,
  helpText,
  parseArgs,
  parseDuration,
  UsageError,
} from "../../src/cli/_args.ts";

Deno.test("parseDuration() reads 30s, 10m, 2h, 1d, 1h30m and 250ms", () => {
  assert.equal(parseDuration("30s", "--older-than"), 30_000);
  assert.equal(parseDuration("10m", "--older-than"), 600_000);
  assert.equal(parseDuration("2h", "--older-than"), 7_200_000);
  assert.equal(parseDuration("1d", "--older-than"), 86_400_000);
  assert.equal(parseDuration("1h30m", "--older-than"), 5_400_000);
  assert.equal(parseDuration("250ms", "--older-than"), 250);
  assert.equal(parseDuration("1.5h", "--older-than"), 5_400_000);
});

Deno.test("parseDuration() refuses a bare number, a unit alone, zero and trailing text", () => {
  for (const text of ["10", "m", "0s", "10x", "10m junk", "", "-5m", "1h 30m"]) {
    assert.throws(
      () => parseDuration(text, "--older-than"),
      (error: Error) =>
        error instanceof UsageError &&
        error.message ===
          `--older-than must be a duration like 30s, 10m, 2h, 1d or 1h30m: got ${
            JSON.stringify(text)
          }`,
      text,
    );
  }
});

Deno.test("parseArgs() gives -h and --help precedence over everything else", () => {
  for (const name of COMMAND_NAMES) {
    for (const flag of ["-h", "--help"]) {
      const command = parseArgs([name, flag]);
      assert.equal(command.help, true, `${name} ${flag}`);
      assert.equal(command.name, name);
    }
  }
  // Not an id called -h, and no usage error for what else is on the line.
  const replay = parseArgs(["replay", "-h"]);
  assert.deepEqual([replay.help, replay.ids], [true, []]);
  assert.equal(parseArgs(["purge", "--all", "--help"]).help, true);
  assert.equal(parseArgs(["list", "--bogus", "-h"]).help, true);
  assert.deepEqual([parseArgs(["help", "show"]).name, parseArgs(["help", "show"]).help], [
    "show",
    true,
  ]);
  assert.equal(parseArgs(["--help"]).name, "help");
});

Deno.test("parseArgs() takes ids that start with a dash only after --", () => {
  const command = parseArgs(["replay", "evt-1", "--json", "--", "-h", "--all"]);
  assert.deepEqual(command.ids, ["evt-1", "-h", "--all"]);
  assert.equal(command.help, false);
  assert.equal(command.all, false);
  assert.equal(command.json, true);
  assert.throws(() => parseArgs(["replay", "-x"]), /unknown option -x/);
});

Deno.test("parseArgs() reads filters, repeated and comma-separated, and --flag=value", () => {
  const command = parseArgs([
    "list",
    "--reason",
    "expired,evicted",
    "--reason=unknown",
    "--type",
    "order.*",
    "--type=user.created",
    "--older-than=2h",
    "--limit",
    "5",
  ]);
  assert.deepEqual(command.filter, {
    reasons: ["expired", "evicted", "unknown"],
    types: ["order.*", "user.created"],
    olderThanMs: 7_200_000,
  });
  assert.equal(command.limit, 5);
});

Deno.test("parseArgs() reads --exchange, --queue and --store on every command but help", () => {
  for (const name of ["list", "count", "status", "replay", "purge", "show"]) {
    const ids = name === "replay" || name === "purge" || name === "show" ? ["evt-1"] : [];
    const command = parseArgs([
      name,
      ...ids,
      "--exchange",
      "orders",
      "--queue=orders.dlq",
      "--store",
      "./data/x.kv",
      "--json",
    ]);
    assert.deepEqual(
      [command.exchange, command.queue, command.store, command.json],
      ["orders", "orders.dlq", "./data/x.kv", true],
      name,
    );
  }
});

Deno.test("parseArgs() names the option and the bad value", () => {
  const cases: [string[], string][] = [
    [[], "missing command"],
    [["frobnicate"], 'unknown command "frobnicate"'],
    [["help", "frobnicate"], 'unknown command "frobnicate"'],
    [
      ["list", "--reason", "lost"],
      "--reason must be one of max-retries, unroutable, " +
      'access-refused, precondition-failed, too-large, rejected, expired, evicted, unknown: got "lost"',
    ],
    [["list", "--limit", "0"], '--limit must be a positive integer: got "0"'],
    [["list", "--older-than"], "--older-than needs a value: --older-than DURATION"],
    [["list", "--json=yes"], "--json takes no value"],
    [["count", "--reason", "expired"], "'count' does not take --reason"],
    [["status", "extra"], `'status' takes no arguments: got "extra"`],
    [["show"], "'show' needs the ids of the dead letters to show"],
    [["replay"], "'replay' needs the ids of the dead letters, --all for every one, or filters"],
    [["replay", "evt-1", "--all"], "'replay' takes either ids or --all, not both"],
    [["purge", "--all"], "'purge --all' deletes dead letters for good: add --yes to confirm"],
    [
      ["purge", "--reason", "expired"],
      "'purge with filters' deletes dead letters for good: add --yes to confirm",
    ],
    [
      ["list", "--exchange", "amq.topic"],
      "--exchange must be a non-empty name of at most 255 " +
      'bytes, not starting with "amq." (reserved by RabbitMQ): got "amq.topic"',
    ],
    [["list", "--store", ""], '--store must be a non-empty string: got ""'],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parseArgs(args),
      (error: Error) => error instanceof UsageError && error.message === message,
      args.join(" "),
    );
  }
});

Deno.test("parseArgs() lets ids and filters narrow each other; a purge naming ids needs no --yes", () => {
  const purge = parseArgs(["purge", "evt-1", "--reason", "expired"]);
  assert.deepEqual([purge.ids, purge.filter.reasons, purge.yes], [["evt-1"], ["expired"], false]);
  const replay = parseArgs(["replay", "--type", "order.*"]);
  assert.deepEqual([replay.ids, replay.all, replay.filter.types], [[], false, ["order.*"]]);
});

Deno.test("helpText() shows each command's usage and only the options it takes", () => {
  const list = helpText("list");
  assert.match(list, /^Usage: deno task dlq list /);
  assert.match(list, /--older-than DURATION/);
  assert.doesNotMatch(list, /--yes/);
  const purge = helpText("purge");
  assert.match(
    purge,
    /^Usage: deno task dlq purge ID\.\.\. \[--json\]\n {7}deno task dlq purge --all/,
  );
  assert.match(purge, /--yes/);
  const count = helpText("count");
  assert.doesNotMatch(count, /--reason|--limit/);
  for (const name of COMMAND_NAMES) {
    assert.match(helpText(name), /-h, --help/, name);
    // Lines fit a 100-column terminal.
    for (const line of helpText(name).split("\n")) assert(line.length <= 100, line);
  }
});
