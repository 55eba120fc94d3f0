import assert from "node:assert/strict";
import {
  hostName,
  KV_FLAG_MISSING,
  openKv,
  processEnv,
  processGone,
  processId,
  RUNTIME,
} from "../src/_runtime.ts";

const RUNTIME_MODULE = new URL("../src/_runtime.ts", import.meta.url).href;

/**
 * Runs a script that imports src/_runtime.ts as `runtime`, with `flags` as its
 * only permissions, outside deno.json (so without KV enabled).
 */
async function runScript(flags: string[], body: string, env: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/script.ts`;
    await Deno.writeTextFile(
      script,
      `import * as runtime from ${JSON.stringify(RUNTIME_MODULE)};\n${body}`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--no-prompt", ...flags, script],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
    return { exitCode: output.code, stdout: text(output.stdout), stderr: text(output.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("RUNTIME is deno under Deno, and the process facts are Deno's", () => {
  assert.equal(RUNTIME, "deno");
  assert.equal(processId(), Deno.pid);
  assert.equal(hostName(), Deno.hostname());
});

Deno.test("processEnv() reads the environment when --allow-env grants it", () => {
  Deno.env.set("RUNTIME_TEST_VARIABLE", "set");
  try {
    const { env, restricted } = processEnv();
    assert.equal(env.get("RUNTIME_TEST_VARIABLE"), "set");
    assert.equal(restricted, undefined);
  } finally {
    Deno.env.delete("RUNTIME_TEST_VARIABLE");
  }
});

Deno.test("processEnv() without --allow-env reads nothing, prompts for nothing, and says why", async () => {
  const body = `const { env, restricted } = runtime.processEnv();
    console.log(JSON.stringify([env.get("GRANTED"), env.get("OTHER") ?? null, restricted]));`;
  const env = { GRANTED: "yes", OTHER: "hidden" };
  const none = await runScript([], body, env);
  assert.deepEqual(JSON.parse(none.stdout), [null, null, processEnvRestriction()], none.stderr);
  const some = await runScript(["--allow-env=GRANTED"], body, env);
  assert.deepEqual(JSON.parse(some.stdout), ["yes", null, processEnvRestriction()], some.stderr);
});

function processEnvRestriction(): string {
  return "the process may not read the environment (no --allow-env)";
}

Deno.test("openKv() without KV enabled fails with the deno.json line to add", async () => {
  const { exitCode, stderr } = await runScript(
    ["--allow-read", "--allow-write"],
    `await runtime.openKv(await Deno.makeTempDir() + "/x.kv");`,
  );
  assert.notEqual(exitCode, 0);
  assert(stderr.includes(KV_FLAG_MISSING), stderr);
  assert(KV_FLAG_MISSING.includes('"unstable": ["kv"]'), KV_FLAG_MISSING);
  assert(KV_FLAG_MISSING.includes("--unstable-kv"), KV_FLAG_MISSING);
});

Deno.test("openKv() creates the database's directory and opens it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const kv = await openKv(`${dir}/a/b/events.kv`);
    try {
      await kv.set(["k"], "v");
      assert.equal((await kv.get(["k"])).value, "v");
    } finally {
      kv.close();
    }
    assert((await Deno.stat(`${dir}/a/b/events.kv`)).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("processGone() is false for a running process and true for one that ended", async () => {
  assert.equal(processGone(Deno.pid), false);
  const child = new Deno.Command(Deno.execPath(), { args: ["--version"], stdout: "null" }).spawn();
  await child.status;
  assert.equal(processGone(child.pid), true);
});
