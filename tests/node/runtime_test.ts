// The runtime shims of src/_runtime.ts on Node 20+: the module bundled with
// `deno bundle`, run with `node`.

import assert from "node:assert/strict";
import { hostname } from "node:os";
import { KV_PACKAGE_MISSING } from "../../src/_runtime.ts";
import { bundleForNode, nodeDirectory, NodeProcess, nodeVersion } from "./_node.ts";

async function run(cwd: string, args: string[], env?: Record<string, string>) {
  await using node = new NodeProcess(cwd, "runtime_probe.mjs", args, env);
  const { code, stderr } = await node.ended();
  return { code, stderr, stdout: node.lines.join("\n") };
}

Deno.test("on Node, the runtime shims read process.env, open @deno/kv and know the process", async () => {
  const { problem } = await nodeVersion();
  if (problem !== undefined) throw new Error(problem);
  const dir = await nodeDirectory();
  const bare = await Deno.makeTempDir();
  try {
    await bundleForNode("./runtime_probe.ts", `${dir}/runtime_probe.mjs`);
    const facts = await run(dir, ["facts", `${dir}/data/probe.kv`], { PROBE_VARIABLE: "on node" });
    assert.equal(facts.code, 0, facts.stderr);
    assert.deepEqual(JSON.parse(facts.stdout), {
      runtime: "node",
      variable: "on node",
      restricted: null,
      pid: true,
      alive: false,
      host: hostname(),
      kv: { n: 1 },
      resolvers: "resolved",
    });

    // Without @deno/kv where the program runs, persistence says what to install.
    await Deno.copyFile(`${dir}/runtime_probe.mjs`, `${bare}/runtime_probe.mjs`);
    const missing = await run(bare, ["facts", `${bare}/probe.kv`]);
    assert.equal(missing.code, 0, missing.stderr);
    assert.deepEqual(JSON.parse(missing.stdout).kv, { error: KV_PACKAGE_MISSING });
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(bare, { recursive: true });
  }
});

Deno.test("src/ uses nothing Node 20 lacks: no Promise.withResolvers, no Deno global outside _runtime.ts and the CLI", async () => {
  const offences: string[] = [];
  const walk = async (dir: URL) => {
    for await (const entry of Deno.readDir(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      // The dlq command line (src/cli/) runs on Deno only.
      if (entry.isDirectory && entry.name !== "cli") await walk(url);
      else if (entry.name.endsWith(".ts") && entry.name !== "_runtime.ts") {
        const lines = (await Deno.readTextFile(url)).split("\n");
        lines.forEach((line, i) => {
          const code = line.replace(/\/\*.*?\*\//g, "").replace(/\/\/.*$/, "")
            .replace(/^\s*\*.*$/, "");
          // Types (Deno.Kv, Deno.KvKey, ...) are erased; values are not.
          const denoValue = /\bDeno\.(?!Kv\w*\b|AtomicOperation\b)\w+/.exec(code);
          if (/Promise\.withResolvers/.test(code) || denoValue) {
            offences.push(`${url.pathname.split("/src/")[1]}:${i + 1}: ${line.trim()}`);
          }
        });
      }
    }
  };
  await walk(new URL("../../src/", import.meta.url));
  assert.deepEqual(
    offences,
    [],
    `use withResolvers() from src/_async.ts and src/_runtime.ts instead:\n${offences.join("\n")}`,
  );
});
