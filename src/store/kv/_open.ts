// Getting hold of a KV store file before the store reads it: the options of
// KvStore.open() checked (naming a bad one), the KV opened unless one was
// given, and the lease taken; when the store's first read fails, the lease
// is given back and a KV opened here is closed again.

import { openKv } from "../../_runtime.ts";
import { openFailure, storeError } from "./_errors.ts";
import { Lease, type LeaseOptions } from "./_lease.ts";
import type { KvStoreOptions } from "./options.ts";

/** The lease's time to live when `leaseTtlMs` is not given. */
const LEASE_TTL_MS = 15_000;

/**
 * Checks the options of `KvStore.open()`.
 *
 * @returns The lease's time to live, in ms.
 * @throws {TypeError} When `path` is not a non-empty string or `limits` is missing.
 * @throws {RangeError} When `memoryLimit` or `leaseTtlMs` is not positive.
 */
export function checkOpenOptions(options: KvStoreOptions): number {
  const { path, limits, memoryLimit, leaseTtlMs = LEASE_TTL_MS } = options;
  if (typeof path !== "string" || path === "") {
    throw new TypeError(`'path' must be a non-empty string: got ${String(path)}`);
  }
  if (typeof limits !== "object" || limits === null) {
    throw new TypeError(`'limits' must be an object: got ${String(limits)}`);
  }
  if (!Number.isInteger(memoryLimit) || memoryLimit <= 0) {
    throw new RangeError(`'memoryLimit' must be a positive integer: got ${memoryLimit}`);
  }
  if (!Number.isFinite(leaseTtlMs) || leaseTtlMs <= 0) {
    throw new RangeError(`'leaseTtlMs' must be a positive number: got ${leaseTtlMs}`);
  }
  return leaseTtlMs;
}

/**
 * The KV given in the options, or the file at `path` opened.
 *
 * @returns The KV, and whether it was opened here (so the store closes it).
 * @throws {StoreError} When the file cannot be opened, naming the path.
 */
export async function openStoreKv(
  options: KvStoreOptions,
): Promise<{ kv: Deno.Kv; ownsKv: boolean }> {
  if (options.kv !== undefined) return { kv: options.kv, ownsKv: false };
  try {
    return { kv: await openKv(options.path), ownsKv: true };
  } catch (error) {
    throw await openFailure(error, options.path);
  }
}

/**
 * Takes the lease on `kv`, then runs `load` (the store's first read). When
 * either fails, a lease taken is given back, so that the next open is not
 * refused, and a KV opened here is closed.
 *
 * @returns The lease, not yet renewing.
 * @throws {StoreLockedError} When another live owner holds the lease.
 * @throws {StoreError} When the read fails, naming the path.
 */
export async function takeLeaseAndLoad(
  kv: Deno.Kv,
  ownsKv: boolean,
  options: LeaseOptions,
  load: () => Promise<void>,
): Promise<Lease> {
  let lease: Lease | undefined;
  try {
    lease = await Lease.take(kv, options);
    await load();
    return lease;
  } catch (error) {
    await lease?.release().catch(() => {});
    if (ownsKv) kv.close();
    throw storeError(error, options.path, "io");
  }
}
