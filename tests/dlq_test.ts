import assert from "node:assert/strict";
import { TestConsumer, uniqueName } from "./_broker.ts";
import { envFor, run } from "./_cli.ts";
import { BoundQueue, openDeadLetterQueue, seedUnroutable } from "./_dead_letters.ts";
import { COMMAND_NAMES } from "../src/cli/_args.ts";

Deno.test("dlq list prints a table, and valid JSON with --json", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const [id] = await seedUnroutable(consumer, 1);
  const env = envFor(consumer);

  const table = await run(["list"], env);
  assert.equal(table.code, 0, table.stderr);
  const [header, row, ...rest] = table.stdout.trimEnd().split("\n");
  assert.equal(rest.length, 0);
  assert.match(header, /^ID +TYPE +REASON +ATTEMPTS +LAST ERROR +DEAD-LETTERED AT +LOCATION$/);
  assert.match(row, new RegExp(`^${id} +test\\.happened +unroutable +1 +TransportError: unrout`));
  assert.match(row, /\d{4}-\d\d-\d\dT[\d:.]+Z +broker$/);

  const json = await run(["list", "--json", "--limit", "5"], env);
  assert.equal(json.code, 0, json.stderr);
  const letters = JSON.parse(json.stdout);
  assert.equal(letters.length, 1);
  assert.equal(letters[0].id, id);
  assert.equal(letters[0].reason, "unroutable");
  assert.equal(letters[0].location, "broker");
  assert.equal(letters[0].originalExchange, consumer.exchange);
  assert.deepEqual(letters[0].body.data, { n: 0 });
  assert(!Number.isNaN(Date.parse(letters[0].deadLetteredAt)));

  const count = await run(["count", "--json"], env);
  assert.equal(count.code, 0, count.stderr);
  assert.deepEqual(JSON.parse(count.stdout), { local: 0, broker: 1, total: 1 });
  assert.match((await run(["count"], env)).stdout, /broker: 1\ntotal: +1/);
});

Deno.test("dlq show prints the whole letter: body, headers, properties, error and times", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const [id, other] = await seedUnroutable(consumer, 2);
  const env = envFor(consumer);

  const text = await run(["show", id], env);
  assert.equal(text.code, 0, text.stderr);
  const field = (name: string) => text.stdout.match(new RegExp(`^${name}: +(.*)$`, "m"))?.[1];
  assert.equal(field("id"), id);
  assert.equal(field("type"), "test.happened");
  assert.equal(field("location"), "broker queue");
  assert.equal(field("reason"), "unroutable");
  assert.equal(field("attempts"), "1");
  assert.match(field("error")!, /^TransportError: unroutable: exchange ".*" has no queue bound/);
  for (const time of ["accepted at", "first failure at", "last failure at", "dead-lettered at"]) {
    assert.match(field(time)!, /^\d{4}-\d\d-\d\dT[\d:.]+Z \(\d+s ago\)$/, time);
  }
  assert.equal(field("exchange"), JSON.stringify(consumer.exchange));
  assert.match(text.stdout, /^ {2}messageId: "evt-0-/m);
  assert.match(text.stdout, /^ {2}correlationId: "corr-0"$/m);
  // Among the headers: a quorum queue hands them back in an order of its own.
  assert.match(text.stdout, /^headers:\n(?: {2}.*\n)* {2}event-version: "1\.0"\n/m);
  assert.doesNotMatch(text.stdout, /x-dead-letter-reason/); // shown as fields, not as headers
  const body = text.stdout.slice(text.stdout.search(/^body \(\d+ bytes\):$/m));
  assert.deepEqual(JSON.parse(body.slice(body.indexOf("\n") + 1)).data, { n: 0 });
  assert(!text.stdout.includes(other));

  const json = await run(["show", id, other, "--json"], env);
  assert.equal(json.code, 0, json.stderr);
  const shown = JSON.parse(json.stdout);
  assert.deepEqual(shown.map((l: { id: string }) => l.id).sort(), [id, other].sort());
  assert.equal(shown.find((l: { id: string }) => l.id === id).errorName, "TransportError");

  const missing = await run(["show", id, "no-such-id"], env);
  assert.equal(missing.code, 1);
  assert.match(missing.stdout, new RegExp(`^id: +${id}$`, "m"));
  assert.equal(missing.stderr, 'dlq: no dead letter with id "no-such-id"\n');
});

Deno.test("dlq replay and purge report what they did, exit 1 when a replay fails", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const ids = await seedUnroutable(consumer, 3);
  const env = envFor(consumer);

  const failed = await run(["replay", ids[0], "--json"], env);
  assert.equal(failed.code, 1);
  const result = JSON.parse(failed.stdout);
  assert.deepEqual(result.replayed, []);
  assert.equal(result.failed[0].id, ids[0]);
  assert.match(result.failed[0].error, /unroutable/);

  const purged = await run(["purge", ids[1]], env);
  assert.equal(purged.code, 0, purged.stderr);
  assert.equal(purged.stdout, "purged 1 dead letter\n");

  await using bound = await BoundQueue.bind(consumer.exchange);
  const replayed = await run(["replay", "--all"], env);
  assert.equal(replayed.code, 0, replayed.stderr);
  assert.equal(replayed.stdout, "replayed 2, failed 0\n");
  assert.match(replayed.stderr, /examined 2\/2 dead letters/);
  assert.equal((await bound.drain()).length, 2);

  const all = await run(["purge", "--all", "--yes", "--json"], env);
  assert.equal(all.code, 0, all.stderr);
  assert.deepEqual(JSON.parse(all.stdout), { purged: 0, notFound: [], held: [] });
});

Deno.test("dlq replay --all says the same in text and in JSON when every replay fails", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  await seedUnroutable(consumer, 2);
  const env = envFor(consumer);

  const text = await run(["replay", "--all"], env);
  assert.equal(text.code, 1);
  assert.match(
    text.stdout,
    /^replayed 0, failed 2\n {2}evt-0-.*: unroutable.*\n {2}evt-1-.*: unroutable/,
  );
  // The progress counts letters examined; it never claims they were replayed.
  assert.match(text.stderr, /^examined 2\/2 dead letters$/m);
  assert.doesNotMatch(text.stderr, /replayed/);

  const json = await run(["replay", "--all", "--json"], env);
  assert.equal(json.code, 1);
  const result = JSON.parse(json.stdout);
  assert.deepEqual([result.replayed.length, result.failed.length], [0, 2]);
  assert.equal((await run(["count", "--json"], env)).stdout, '{"local":0,"broker":2,"total":2}\n');
});

Deno.test("dlq purge of an id that is not there exits 1 and says so, never 'purged 0'", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const [id] = await seedUnroutable(consumer, 1);
  const env = envFor(consumer);

  const missing = await run(["purge", "no-such-id"], env);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, "");
  assert.equal(missing.stderr, 'dlq: no dead letter with id "no-such-id"\n');

  const json = await run(["purge", "no-such-id", "--json"], env);
  assert.equal(json.code, 1);
  assert.deepEqual(JSON.parse(json.stdout), {
    purged: 0,
    notFound: [{ id: "no-such-id", error: "not found in the dead letters" }],
    held: [],
  });

  const replay = await run(["replay", "no-such-id"], env);
  assert.equal(replay.code, 1);
  assert.equal(
    replay.stdout,
    "replayed 0, failed 1\n  no-such-id: not found in the dead letters\n",
  );

  // One found, one missing: the found one goes, the missing one is named, exit 1.
  const mixed = await run(["purge", id, "no-such-id"], env);
  assert.equal(mixed.code, 1);
  assert.equal(mixed.stdout, "purged 1 dead letter\n");
  assert.equal(mixed.stderr, 'dlq: no dead letter with id "no-such-id"\n');
  assert.deepEqual(JSON.parse((await run(["count", "--json"], env)).stdout).broker, 0);
});

Deno.test("dlq --help on every command prints its usage and touches nothing", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const [id] = await seedUnroutable(consumer, 1);
  await using bound = await BoundQueue.bind(consumer.exchange);
  const env = envFor(consumer);
  for (const name of COMMAND_NAMES) {
    for (const flag of ["--help", "-h"]) {
      const help = await run([name, flag], env);
      assert.equal(help.code, 0, `${name} ${flag}: ${help.stderr}`);
      assert.equal(help.stderr, "");
      assert.match(
        help.stdout,
        new RegExp(`^Usage: deno task dlq ${name === "help" ? "<command>" : name}`),
      );
    }
  }
  for (const args of [["replay", "-h"], ["replay", id, "-h"], ["purge", id, "--help"]]) {
    assert.equal((await run(args, env)).code, 0);
  }
  assert.deepEqual((await bound.drain()).length, 0);
  const dlq = openDeadLetterQueue(consumer);
  try {
    assert.deepEqual((await dlq.list()).letters.map((l) => l.id), [id]);
  } finally {
    await dlq.close();
  }
});

Deno.test("dlq --exchange and --queue override the environment", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const [id] = await seedUnroutable(consumer, 1);
  const elsewhere = envFor(consumer, { RABBITMQ_EXCHANGE: uniqueName("elsewhere") });

  const wrong = await run(["list", "--json"], elsewhere);
  assert.deepEqual(JSON.parse(wrong.stdout), []);
  const byExchange = await run(["list", "--json", "--exchange", consumer.exchange], elsewhere);
  assert.deepEqual(JSON.parse(byExchange.stdout).map((l: { id: string }) => l.id), [id]);
  const byQueue = await run(["count", "--json", `--queue=${consumer.deadLetterQueue}`], elsewhere);
  assert.deepEqual(JSON.parse(byQueue.stdout), { local: 0, broker: 1, total: 1 });
  const overEnvQueue = envFor(consumer, { RABBITMQ_DEAD_LETTER_QUEUE: uniqueName("other") });
  const byBoth = await run(["count", "--json", "--queue", consumer.deadLetterQueue], overEnvQueue);
  assert.deepEqual(JSON.parse(byBoth.stdout), { local: 0, broker: 1, total: 1 });

  const bad = await run(["count", "--queue", "amq.gen"], elsewhere);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^dlq: --queue must be a non-empty name .*: got "amq\.gen"/);
});

Deno.test("dlq returns 2 with a clear message on usage and configuration errors", async () => {
  const env = new Map([["RABBITMQ_URL", "amqp://ops:s3cret@127.0.0.1:1"]]);
  const cases: [string[], RegExp][] = [
    [[], /missing command/],
    [["frobnicate"], /unknown command "frobnicate"/],
    [["replay"], /needs the ids .* --all for every one, or filters/],
    [["purge"], /needs the ids .* --all for every one, or filters/],
    [["purge", "--all"], /add --yes/],
    [["purge", "--reason", "expired"], /add --yes/],
    [["replay", "evt-1", "--all"], /either ids or --all/],
    [["list", "--limit", "x"], /--limit must be a positive integer: got "x"/],
    [["list", "--limit"], /--limit needs a value/],
    [["list", "--older-than", "10"], /--older-than must be a duration like 30s, 10m/],
    [["count", "--all"], /'count' does not take --all/],
    [["list", "extra"], /'list' takes no arguments/],
    [["show"], /'show' needs the ids/],
  ];
  for (const [args, message] of cases) {
    const { code, stdout, stderr } = await run(args, env);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.equal(stdout, "");
    assert.match(stderr, message);
    assert.match(stderr, /Run 'deno task dlq help' for usage\.\n$/);
  }
  const badEnv = await run(["count"], new Map([["RABBITMQ_ASYNC_BATCH_SIZE", "abc"]]));
  assert.equal(badEnv.code, 2);
  assert.match(badEnv.stderr, /RABBITMQ_ASYNC_BATCH_SIZE must be/);

  const help = await run(["help"], env);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: deno task dlq <command>/);

  const down = await run(["count"], env);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /no RabbitMQ broker answered: amqp:\/\/ops:\*\*\*@127\.0\.0\.1:1/);
  assert(!down.stderr.includes("s3cret"));
});
