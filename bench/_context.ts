// What every scenario of the benchmark is given and returns.

import type { QueueType } from "./_broker.ts";

/** One run's figures, by key (`throughput` in events/s, `cpu` in µs per event, ...). */
export type Figures = Record<string, number>;

/** What a scenario needs to know about the run. */
export interface Context {
  /** The broker. */
  url: string;
  /** A fresh tag for event ids. */
  tag: () => string;
}

/** Where a measured row publishes, and how much. */
export interface RowShape {
  /** Events per run. */
  count: number;
  /** Encoded bytes per event. */
  bytes: number;
  /** The queue the exchange routes to. */
  queueType: QueueType;
}

/** The Node peer's script; its dependencies are in `bench/peer/node_modules`. */
export const NODE_PEER = new URL("./peer/peer.mjs", import.meta.url).pathname;

let nodePeer: Promise<boolean> | undefined;

/** Whether `node` runs here and `npm ci --prefix bench/peer` has installed the peer. */
export function isNodePeerInstalled(): Promise<boolean> {
  return nodePeer ??= (async () => {
    try {
      await Deno.stat(new URL("./peer/node_modules/amqp-connection-manager", import.meta.url));
      const output = await new Deno.Command("node", { args: ["--version"], stdout: "null" })
        .output();
      return output.success;
    } catch {
      return false;
    }
  })();
}
