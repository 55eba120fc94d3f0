// What differs between the runtimes this module runs on, Deno 2 and Node 20+:
// the environment, Deno KV, facts about processes, and the hook for
// unhandled rejections. Everything else the module uses is a web API both
// provide. On Deno the Deno APIs are used, with Deno's permissions; on Node,
// the node: built-ins and `@deno/kv`, an npm package the application
// installs when it turns persistence on.

import nodeProcess from "node:process";
import { hostname as nodeHostname } from "node:os";
import { readFileSync as nodeReadFileSync } from "node:fs";
import { mkdir as nodeMkdir, realpath as nodeRealpath } from "node:fs/promises";

// `Deno` is a global only on Deno; read it from globalThis so that Node,
// where the name is not defined at all, sees `undefined`.
const deno: typeof Deno | undefined = (globalThis as { Deno?: typeof Deno }).Deno;

/** The runtime this process runs on. */
export const RUNTIME: "deno" | "node" = deno === undefined ? "node" : "deno";

/** What reads environment variables; the shape of `Deno.env` and of a `Map`. */
export interface EnvGetter {
  /** The value of `name`, or `undefined` when it is not set (or may not be read). */
  get(name: string): string | undefined;
}

/** The process environment, and whether the process may read it. */
export interface EnvAccess {
  /** Reads a variable; on Deno, a variable the process may not read reads as unset. */
  env: EnvGetter;
  /** Why some variables cannot be read (no `--allow-env`), or `undefined`. */
  restricted?: string;
}

/**
 * The process environment: `Deno.env` on Deno (so a variable the process may
 * not read throws, or prompts, as Deno decides), `process.env` on Node.
 *
 * @returns The reader.
 */
export function envReader(): EnvGetter {
  return deno !== undefined ? deno.env : { get: (name) => nodeProcess.env[name] };
}

/**
 * The process environment, read without a permission prompt: on Deno, each
 * variable is read only if `--allow-env` (or `--allow-env=NAME`) grants it,
 * and reads as unset otherwise; on Node, `process.env`.
 *
 * @returns The reader, and why variables may read as unset.
 */
export function processEnv(): EnvAccess {
  if (deno === undefined) return { env: envReader() };
  const { permissions } = deno;
  const granted = (variable?: string) =>
    permissions.querySync({ name: "env", variable }).state === "granted";
  if (granted()) return { env: deno.env };
  return {
    env: { get: (name) => granted(name) ? deno.env.get(name) : undefined },
    restricted: "the process may not read the environment (no --allow-env)",
  };
}

/**
 * What the store needs of a Deno KV database: `Deno.Kv` on Deno, the
 * `@deno/kv` package's `Kv` on Node (the same API).
 */
export type KvDatabase = Deno.Kv;

/** What to do when Deno runs without KV enabled: one line, the exact fix. */
export const KV_FLAG_MISSING =
  'Deno KV is not enabled (Deno.openKv is not a function): add "unstable": ["kv"] to ' +
  "deno.json, or run deno with --unstable-kv";

/** What to do when Node lacks the `@deno/kv` package. */
export const KV_PACKAGE_MISSING =
  "persistence on Node needs the @deno/kv package: npm install @deno/kv";

// Not a string literal, so that Deno does not add @deno/kv (an npm package
// with a native binary) to every Deno user's module graph, and a bundler
// leaves it to Node to resolve from the application's node_modules.
const DENO_KV_PACKAGE = "@deno/kv";

/**
 * Opens (creating if needed) the Deno KV database at `path`, and its
 * directory.
 *
 * @param path The database file.
 * @returns The open database.
 * @throws {Error} On Deno without KV enabled, or on Node without `@deno/kv`,
 * with the fix in one line.
 */
export async function openKv(path: string): Promise<KvDatabase> {
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  if (slash > 0) await makeDirectory(path.slice(0, slash));
  if (deno !== undefined) {
    if (typeof deno.openKv !== "function") throw new Error(KV_FLAG_MISSING);
    return await deno.openKv(path);
  }
  let module: { openKv(path: string): Promise<unknown> };
  try {
    module = await import(DENO_KV_PACKAGE);
  } catch (cause) {
    throw new Error(KV_PACKAGE_MISSING, { cause });
  }
  return await module.openKv(path) as KvDatabase;
}

/** Creates `dir` and its parents, if missing. */
export async function makeDirectory(dir: string): Promise<void> {
  if (deno !== undefined) await deno.mkdir(dir, { recursive: true });
  else await nodeMkdir(dir, { recursive: true });
}

/** The real path of `dir`, with symbolic links resolved. */
export async function realPath(dir: string): Promise<string> {
  return deno !== undefined ? await deno.realPath(dir) : await nodeRealpath(dir);
}

/** This process's id. */
export function processId(): number {
  return deno !== undefined ? deno.pid : nodeProcess.pid;
}

/** This machine's name, or `"unknown-host"` where it may not be read (Deno without --allow-sys). */
export function hostName(): string {
  try {
    return deno !== undefined ? deno.hostname() : nodeHostname();
  } catch {
    return "unknown-host";
  }
}

/**
 * Whether the process `pid` is certainly gone, with whatever the permissions
 * allow; anything uncertain is `false`. On Deno: /proc (opened only with
 * --allow-all), else a harmless signal (SIGCHLD, ignored by default; needs
 * --allow-run). On Node: signal 0, which checks without sending, and /proc
 * for a zombie.
 *
 * @param pid The process id.
 * @returns `true` when no such process runs.
 */
export function processGone(pid: number): boolean {
  if (deno === undefined) return nodeProcessGone(pid);
  if (deno.build.os === "linux") {
    try {
      return zombie(deno.readTextFileSync(`/proc/${pid}/stat`));
    } catch (error) {
      if (error instanceof deno.errors.NotFound) return true;
    }
  }
  try {
    deno.kill(pid, "SIGCHLD");
    return false;
  } catch (error) {
    return error instanceof deno.errors.NotFound;
  }
}

function nodeProcessGone(pid: number): boolean {
  try {
    nodeProcess.kill(pid, 0);
  } catch (error) {
    return (error as { code?: string }).code === "ESRCH";
  }
  if (nodeProcess.platform !== "linux") return false;
  try {
    return zombie(nodeReadFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

// The third field of /proc/<pid>/stat is the state: Z (zombie) or X (dead) is gone.
function zombie(stat: string): boolean {
  const state = stat.charAt(stat.lastIndexOf(")") + 2);
  return state === "Z" || state === "X";
}
