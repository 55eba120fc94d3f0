import assert from "node:assert/strict";
import { BROKER_URL, TestConsumer } from "./_broker.ts";
import { BoundQueue, localDeadLetter, seedUnroutable } from "./_dead_letters.ts";
import { KvStore } from "../mod.ts";
import { main } from "../dlq.ts";

/** Runs the CLI in-process with captured output. */
async function run(args: string[], env: Map<string, string>) {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    env,
  });
  return { code, stdout, stderr };
}

function envFor(consumer: TestConsumer, extra: Record<string, string> = {}): Map<string, string> {
  return new Map(Object.entries({
    RABBITMQ_URL: BROKER_URL,
    RABBITMQ_EXCHANGE: consumer.exchange,
    ...extra,
  }));
}

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
  assert.match(replayed.stderr, /replayed 2\/2/);
  assert.equal((await bound.drain()).length, 2);

  const all = await run(["purge", "--all", "--yes"], env);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout, "purged 0 dead letters\n");
});

Deno.test("dlq returns 2 with a clear message on usage and configuration errors", async () => {
  const env = new Map([["RABBITMQ_URL", "amqp://ops:s3cret@127.0.0.1:1"]]);
  const cases: [string[], RegExp][] = [
    [[], /missing command/],
    [["frobnicate"], /unknown command "frobnicate"/],
    [["replay"], /needs the ids .* or --all/],
    [["purge"], /needs the ids .* or --all/],
    [["purge", "--all"], /add --yes/],
    [["replay", "evt-1", "--all"], /either ids or --all/],
    [["list", "--limit", "x"], /--limit must be a positive integer: got "x"/],
    [["list", "--limit"], /--limit must be a positive integer/],
    [["count", "--all"], /'count' does not take --all/],
    [["list", "extra"], /'list' takes no arguments/],
  ];
  for (const [args, message] of cases) {
    const { code, stdout, stderr } = await run(args, env);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.equal(stdout, "");
    assert.match(stderr, message);
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

Deno.test("dlq includes the local dead letters of a persistent store, or says it is locked", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const dir = await Deno.makeTempDir({ prefix: "dlq_cli_test_" });
  const path = `${dir}/events.kv`;
  const env = envFor(consumer, {
    RABBITMQ_BUFFER_PERSISTENCE: "true",
    RABBITMQ_BUFFER_STORAGE_PATH: path,
  });
  const open = () =>
    KvStore.open({
      path,
      limits: { maxEvents: 100, maxBytes: 1_000_000, overflow: "reject" },
      memoryLimit: 10,
    });
  try {
    const letter = localDeadLetter(1, consumer.exchange);
    const store = await open();
    await store.addDeadLetters([letter]);

    const locked = await run(["count", "--json"], env);
    assert.equal(locked.code, 0, locked.stderr);
    assert.match(locked.stderr, /in use by another publisher .*broker queue only/);
    assert.deepEqual(JSON.parse(locked.stdout), { local: 0, broker: 0, total: 0 });
    await store.close();

    const listed = await run(["list", "--json"], env);
    assert.equal(listed.code, 0, listed.stderr);
    const [found] = JSON.parse(listed.stdout);
    assert.equal(found.id, letter.id);
    assert.equal(found.location, "local");
    assert.equal(found.reason, "max-retries");

    const purged = await run(["purge", letter.id], env);
    assert.equal(purged.stdout, "purged 1 dead letter\n");
    const after = await open();
    try {
      assert.deepEqual(await after.listDeadLetters(), []);
    } finally {
      await after.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
