// createRabbitMQAsyncEventPublisher(): the RABBITMQ_* variables beneath the
// options in code, and one line saying why the first connection failed.

import assert from "node:assert/strict";
import { BROKER_URL, TestConsumer } from "../_broker.ts";
import { FakeTransport } from "../_fake_transport.ts";
import { createRabbitMQAsyncEventPublisher } from "../../mod.ts";

const decoder = new TextDecoder();

/** Runs a program of this folder with `flags` and `env` added to the environment. */
async function runProgram(
  script: string,
  flags: string[],
  env: Record<string, string>,
  args: string[] = [],
) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, new URL(script, import.meta.url).pathname, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout).trim(),
    stderr: decoder.decode(output.stderr).trim(),
  };
}

Deno.test("the specification's Basic Usage runs as written, configured by RABBITMQ_* variables beneath its options", async () => {
  await using consumer = await TestConsumer.start();
  const dir = await Deno.makeTempDir();
  try {
    const { code, stdout, stderr } = await runProgram("./_spec_usage.ts", ["-A"], {
      RABBITMQ_URL: BROKER_URL,
      RABBITMQ_EXCHANGE: consumer.exchange,
      RABBITMQ_BUFFER_STORAGE_PATH: `${dir}/events.kv`,
      // Beneath the code's maxBufferSize of 5000: the code wins.
      RABBITMQ_BUFFER_MAX_SIZE: "10",
    });
    assert.equal(code, 0, stderr);
    const { high, batch, maxSize, report } = JSON.parse(stdout);
    assert.deepEqual({ high, batch, maxSize }, {
      high: "confirmed",
      batch: ["queued", "queued", "queued"],
      maxSize: 5000,
    });
    assert.deepEqual([report.remaining, report.timedOut, report.persistent], [0, false, true]);
    const received = await consumer.waitFor(4);
    assert.deepEqual(
      received.map((m) => m.json.type).sort(),
      ["recording.failed", "recording.started", "recording.started", "recording.started"],
    );
    assert((await Deno.stat(`${dir}/events.kv`)).isFile, "the store is where the variable says");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the specification's Basic Usage fails at once on a bad RABBITMQ_* variable, naming it", async () => {
  for (const variable of ["RABBITMQ_ASYNC_BATCH_SIZE", "RABBITMQ_BUFFER_MAX_SIZE"]) {
    const { code, stderr } = await runProgram("./_spec_usage.ts", ["-A"], {
      RABBITMQ_URL: BROKER_URL,
      [variable]: "abc",
    });
    assert.notEqual(code, 0);
    assert.match(stderr, new RegExp(`${variable} must be a positive integer.*: got "abc"`));
  }
});

Deno.test("createRabbitMQAsyncEventPublisher() reads the environment only where --allow-env lets it, and says so once", async () => {
  const env = { RABBITMQ_BUFFER_MAX_SIZE: "77", RABBITMQ_EXCHANGE: "from-env" };
  const run = async (flags: string[], args: string[] = []) => {
    const { code, stdout, stderr } = await runProgram("./_create_child.ts", flags, env, args);
    assert.equal(code, 0, stderr);
    const { seen, debug } = JSON.parse(stdout);
    return { seen, said: debug.filter((line: string) => line.startsWith("RABBITMQ_")) };
  };
  const defaults = { maxSize: 10_000, exchange: "domain-events" };

  const allowed = await run(["--allow-env"]);
  assert.deepEqual(allowed.seen, [{ maxSize: 77, exchange: "from-env" }, {
    maxSize: 77,
    exchange: "from-env",
  }]);
  assert.deepEqual(allowed.said, []);

  const denied = await run([]);
  assert.deepEqual(denied.seen, [defaults, defaults]);
  assert.deepEqual(denied.said, [
    "RABBITMQ_* variables not read: the process may not read the environment (no --allow-env); " +
    "the options in code and the defaults apply",
  ]);

  const off = await run(["--allow-env"], ["off"]);
  assert.deepEqual(off.seen, [defaults, defaults]);
});

Deno.test("createRabbitMQAsyncEventPublisher() layers an injected environment: code, then variables, then defaults", async () => {
  const env = new Map([
    ["RABBITMQ_BUFFER_MAX_SIZE", "77"],
    ["RABBITMQ_BUFFER_MAX_AGE", "1000"],
    ["RABBITMQ_ASYNC_PUBLISH_TIMEOUT", "100"],
  ]);
  const transport = new FakeTransport();
  await using publisher = await createRabbitMQAsyncEventPublisher(
    { exchange: "from-code" },
    { bufferConfig: { maxBufferSize: 5 } },
    { transport, env },
  );
  assert.equal(publisher.getEventBuffer().getStats().maxSize, 5);
  await publisher.publish({ id: "e1", type: "t", data: {}, metadata: { priority: "high" } });
  assert.equal(transport.sends[0].exchange, "from-code");

  // A bad value that came from the environment is named by its variable, one
  // from code by its field, even when they meet in a combination.
  const bad = new Map([["RABBITMQ_RETRY_BASE_DELAY", "5000"]]);
  await assert.rejects(
    createRabbitMQAsyncEventPublisher({}, { retry: { maxDelay: 100 } }, { transport, env: bad }),
    (error: Error) => {
      assert.match(error.message, /RABBITMQ_RETRY_BASE_DELAY/);
      assert.match(error.message, /'retry\.maxDelay'/);
      return true;
    },
  );
});

Deno.test("createRabbitMQAsyncEventPublisher() with requireConnection names the user and vhost of a refused login, never the password", async () => {
  const url = new URL(BROKER_URL);
  url.password = "not-the-password";
  await assert.rejects(
    createRabbitMQAsyncEventPublisher({ url: url.href }, {}, {
      requireConnection: true,
      env: false,
    }),
    (error: Error) => {
      assert.match(
        error.message,
        /refused the login of user "guest" on vhost "\/" \(ACCESS_REFUSED\)/,
      );
      assert.match(error.message, /amqp:\/\/guest:\*\*\*@/);
      assert(!error.message.includes("not-the-password"), error.message);
      assert(!String(error.cause).includes("not-the-password"), String(error.cause));
      return true;
    },
  );
});

Deno.test("createRabbitMQAsyncEventPublisher() with requireConnection says no broker answered, with the URLs masked", async () => {
  const urls = ["amqp://app:s3cret@127.0.0.1:1", "amqp://app:s3cret@127.0.0.1:2"];
  await assert.rejects(
    createRabbitMQAsyncEventPublisher({ url: urls }, {}, { requireConnection: true, env: false }),
    (error: Error) => {
      assert.equal(
        error.message,
        "no RabbitMQ broker answered at amqp://app:***@127.0.0.1:1, amqp://app:***@127.0.0.1:2",
      );
      return true;
    },
  );
});

Deno.test("the specification's Basic Usage without Deno KV enabled says which deno.json line to add", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The project's deno.json without its "unstable": ["kv"].
    const project = JSON.parse(
      await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
    );
    delete project.unstable;
    await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ imports: project.imports }));
    const { code, stderr } = await runProgram(
      "./_spec_usage.ts",
      ["-A", "--no-lock", "--config", `${dir}/deno.json`],
      { RABBITMQ_URL: BROKER_URL, RABBITMQ_BUFFER_STORAGE_PATH: `${dir}/events.kv` },
    );
    assert.notEqual(code, 0);
    assert.match(stderr, /Deno KV is not enabled \(Deno\.openKv is not a function\)/);
    assert(stderr.includes('add "unstable": ["kv"] to deno.json, or run deno with --unstable-kv'));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
