// Running the module on Node: a bundle built with `deno bundle`, a directory
// where Node finds `@deno/kv` (installed with npm, as an application on Node
// would), and node processes whose output is read line by line.

import { fileURLToPath } from "node:url";

/** The oldest Node major version the module supports. */
export const NODE_MAJOR = 20;

/** The version of `node` on the PATH, or why it cannot run. */
export async function nodeVersion(): Promise<{ version?: string; problem?: string }> {
  try {
    const { stdout } = await new Deno.Command("node", { args: ["--version"], stderr: "null" })
      .output();
    const version = new TextDecoder().decode(stdout).trim();
    const major = Number(/^v(\d+)\./.exec(version)?.[1]);
    return major >= NODE_MAJOR
      ? { version }
      : { version, problem: `node ${version} is older than ${NODE_MAJOR}` };
  } catch {
    return { problem: `node is not installed: these tests need Node ${NODE_MAJOR}+ on the PATH` };
  }
}

/**
 * A fresh directory for Node programs, with `@deno/kv` installed by npm.
 * Remove it with `Deno.remove(dir, { recursive: true })`.
 */
export async function nodeDirectory(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "rabbitmq-publisher-node-" });
  await Deno.writeTextFile(
    `${dir}/package.json`,
    JSON.stringify({ private: true, type: "module", dependencies: { "@deno/kv": "0.14.0" } }),
  );
  const install = await new Deno.Command("npm", {
    args: ["install", "--no-audit", "--no-fund", "--loglevel=error"],
    cwd: dir,
    env: { npm_config_update_notifier: "false" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!install.success) {
    await Deno.remove(dir, { recursive: true });
    const output = new TextDecoder().decode(install.stderr).trim().split("\n").at(-1);
    throw new Error(`npm install @deno/kv failed: ${output}`);
  }
  return dir;
}

/** Bundles `entry` (a path relative to this file) for Node into `outFile`. */
export async function bundleForNode(entry: string, outFile: string): Promise<void> {
  const { success, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--platform",
      "deno",
      "--quiet",
      "-o",
      outFile,
      fileURLToPath(new URL(entry, import.meta.url)),
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`deno bundle ${entry} failed:\n${new TextDecoder().decode(stderr)}`);
  }
}

/** A node process whose standard output is read as lines. */
export class NodeProcess implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #lines: string[] = [];
  readonly #stderr: Promise<string>;
  readonly #stdout: Promise<void>;
  #onLine?: () => void;

  /** Starts `node <script> <args...>` in `cwd`, with `env` added to the environment. */
  constructor(cwd: string, script: string, args: readonly string[], env?: Record<string, string>) {
    this.#child = new Deno.Command("node", {
      args: [script, ...args],
      cwd,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdout = this.#readLines();
    this.#stderr = new Response(this.#child.stderr).text();
  }

  async #readLines(): Promise<void> {
    let rest = "";
    for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? ""; // a line cut by a kill is not a line
      this.#lines.push(...parts);
      this.#onLine?.();
    }
  }

  /** The complete lines printed so far. */
  get lines(): readonly string[] {
    return this.#lines;
  }

  /** Resolves once `condition` holds for the lines; rejects if the process ends first. */
  async waitFor(condition: (lines: readonly string[]) => boolean, what: string): Promise<void> {
    while (!condition(this.#lines)) {
      const next = new Promise<void>((resolve) => this.#onLine = resolve);
      const ended = this.#stdout.then(() => "ended" as const);
      if (await Promise.race([next, ended]) === "ended" && !condition(this.#lines)) {
        const { code } = await this.#child.status;
        throw new Error(`node exited (${code}) before ${what}:\n${await this.#stderr}`);
      }
    }
  }

  /** Sends SIGKILL and waits until the process is gone and reaped. */
  async kill(): Promise<Deno.CommandStatus & { stderr: string }> {
    this.#child.kill("SIGKILL");
    return await this.ended();
  }

  /** Waits for the end; returns the status, with what it printed on standard error. */
  async ended(): Promise<Deno.CommandStatus & { stderr: string }> {
    const [status, stderr] = await Promise.all([this.#child.status, this.#stderr, this.#stdout]);
    return { ...status, stderr };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await this.ended();
  }
}
