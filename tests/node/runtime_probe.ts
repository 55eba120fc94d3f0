// A program for Node, bundled and run by runtime_test.ts: exercises the
// runtime shims of src/_runtime.ts and prints what it saw as JSON.
//
//   node runtime_probe.mjs facts <kv path>

import process from "node:process";
import { withResolvers } from "../../src/_async.ts";
import * as runtime from "../../src/_runtime.ts";

const [mode, arg] = process.argv.slice(2);

if (mode === "facts") {
  const { env, restricted } = runtime.processEnv();
  let kv: unknown;
  try {
    const db = await runtime.openKv(arg);
    await db.set(["k"], { n: 1 });
    kv = (await db.get(["k"])).value;
    db.close();
  } catch (error) {
    kv = { error: (error as Error).message };
  }
  const { promise, resolve } = withResolvers<string>();
  resolve("resolved");
  console.log(JSON.stringify({
    runtime: runtime.RUNTIME,
    variable: env.get("PROBE_VARIABLE") ?? null,
    restricted: restricted ?? null,
    pid: runtime.processId() === process.pid,
    alive: runtime.processGone(process.pid),
    host: runtime.hostName(),
    kv,
    resolvers: await promise,
  }));
}
