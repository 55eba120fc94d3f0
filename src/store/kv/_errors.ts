// Storage failures named: the SQLite messages beneath Deno KV mapped to a
// StoreError of the right kind, with the store's path. Runs on Deno and Node
// alike (the probe uses node:fs, which both provide).

import { mkdtemp, open, rm } from "node:fs/promises";
import { StoreError, type StoreErrorKind, StoreLockedError } from "../../errors.ts";
import { KV_FLAG_MISSING, KV_PACKAGE_MISSING } from "../../_runtime.ts";

// SQLite's own wording (sqlite3_errstr) and the system's, as Deno KV passes them on.
const KINDS: [RegExp, StoreErrorKind][] = [
  [/database or disk is full|no space left on device|quota exceeded/i, "disk-full"],
  [/readonly database|read-only file system|read only/i, "read-only"],
  [/file is not a database|database disk image is malformed|malformed/i, "corrupt"],
  [/unable to open database file|is a directory|not a directory|permission denied/i, "open"],
];

/**
 * `error` as a StoreError naming `path`; `fallback` is the kind when the
 * message says nothing more precise. Errors that already say what they are
 * (a StoreError, a lost lease, a bad argument, a missing permission) are
 * returned as they are.
 */
export function storeError(error: unknown, path: string, fallback: StoreErrorKind): unknown {
  if (
    error instanceof StoreError || error instanceof StoreLockedError ||
    error instanceof RangeError || (error instanceof Error && error.name === "NotCapable")
  ) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  const kind = KINDS.find(([pattern]) => pattern.test(message))?.[1] ?? fallback;
  return new StoreError(kind, path, error);
}

/**
 * Why `path` could not be opened, as a StoreError. SQLite says "unable to
 * open database file" for a read-only file system too (it cannot create its
 * write-ahead files there), so whether the file, or the directory of a new
 * one, can be written at all is asked of the file system. A runtime without
 * Deno KV (its fix in one line) is not a storage failure and is returned as
 * it is.
 */
export async function openFailure(error: unknown, path: string): Promise<unknown> {
  const message = error instanceof Error ? error.message : "";
  if (message === KV_FLAG_MISSING || message === KV_PACKAGE_MISSING) return error;
  if (await readOnlyPlace(path)) return new StoreError("read-only", path, error);
  return storeError(error, path, "open");
}

async function readOnlyPlace(path: string): Promise<boolean> {
  try {
    await (await open(path, "r+")).close();
    return false;
  } catch (error) {
    if (code(error) !== "ENOENT") return readOnly(error);
  }
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  try {
    const probe = await mkdtemp(`${slash > 0 ? path.slice(0, slash + 1) : "./"}.write-probe-`);
    await rm(probe, { recursive: true });
    return false;
  } catch (error) {
    return readOnly(error);
  }
}

function readOnly(error: unknown): boolean {
  return code(error) === "EROFS" || code(error) === "EACCES" || code(error) === "EPERM" ||
    /read-only file system|os error 30\b/i.test(error instanceof Error ? error.message : "");
}

function code(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}
