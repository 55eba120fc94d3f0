// A RabbitMQ cluster of its own for tests: three nodes on 127.0.0.1
// (c1-<run>@localhost..c3-<run>@localhost, AMQP 5701-5703 or the next free
// block of ports), each with its own config,
// data and log directories under one temp dir, clustered with join_cluster.
// It never touches the shared broker on 5672, and `close()` stops every node
// it started (rabbitmqctl stop, then SIGKILL of the pid from the node's pid
// file if it is still alive), then removes the temp dir. The nodes are
// detached and would outlive the test process, so SIGINT, SIGTERM (a CI
// timeout) and SIGHUP stop them too before the process exits.
//
// The nodes run as the `rabbitmq` user (see /work/shared/RABBITMQ_NODES.md),
// so this harness needs to run as root or as that user.

import { AMQPClient } from "@cloudamqp/amqp-client";
import { type Run, run } from "./_run.ts";
import { poll, sleep } from "./_wait.ts";

const SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl";
// The rabbitmq user's home, where its Erlang cookie is: rabbitmqctl needs it.
const RABBITMQ_HOME = "/var/lib/rabbitmq";
const BOOT_TIMEOUT_MS = 180_000;
// The signals that end a test process, with the exit status they would give it.
const ENDING_SIGNALS = [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const;

/** One node of the test cluster. */
export interface ClusterNode {
  /** Erlang node name, e.g. `c1@localhost`. */
  readonly name: string;
  /** AMQP port on 127.0.0.1. */
  readonly port: number;
  /** Erlang distribution port. */
  readonly distPort: number;
  /** guest/guest URL of this node. */
  readonly url: string;
  /** The node's own directory (config, mnesia, logs, pid file). */
  readonly dir: string;
}

/** Options of {@linkcode Cluster.start}. */
export interface ClusterOptions {
  /** How many nodes. @default {3} */
  size?: number;
  /**
   * AMQP port of the first node; the others follow, and each node's Erlang
   * distribution port is its AMQP port + 20000. When one of them is taken
   * (another test's nodes), the next block of 10 is tried.
   * @default {5701}
   */
  basePort?: number;
  /** Extra `rabbitmq.conf` lines for every node. */
  config?: readonly string[];
  /**
   * Prefix of the node names: `c1-<run>@localhost`, `c2-<run>@localhost`, ...
   * where `<run>` is unique per start, so two tests' nodes never share a name.
   * @default {"c"}
   */
  prefix?: string;
}

const PORT_BLOCKS = 20;

/** The first AMQP port from `basePort` on, in blocks of 10, whose `size` ports and dist ports are free. */
async function freePorts(basePort: number, size: number): Promise<number> {
  for (let block = 0; block < PORT_BLOCKS; block++) {
    const first = basePort + 10 * block;
    const ports = Array.from({ length: size }, (_, i) => [first + i, first + i + 20_000]).flat();
    if (!(await Promise.all(ports.map(listening))).some(Boolean)) return first;
  }
  throw new Error(`no ${size} free ports from ${basePort} on in ${PORT_BLOCKS} blocks of 10`);
}

/** Runs `script` with /bin/sh as the rabbitmq user. */
function asRabbitmq(script: string): Promise<Run> {
  const uid = Deno.uid();
  if (uid === 0) return run("su", ["rabbitmq", "-s", "/bin/sh", "-c", script]);
  return run("/bin/sh", ["-c", script]);
}

/** `rabbitmqctl -n NODE args...` as the rabbitmq user; throws with its output on failure. */
export async function rabbitmqctl(node: string, ...args: string[]): Promise<string> {
  const quoted = [CTL, "-n", node, ...args].map(shellQuote).join(" ");
  const { ok, output } = await asRabbitmq(`cd ${RABBITMQ_HOME} && HOME=${RABBITMQ_HOME} ${quoted}`);
  if (!ok) throw new Error(`rabbitmqctl -n ${node} ${args.join(" ")} failed: ${output}`);
  return output;
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Whether something listens on 127.0.0.1:`port`. */
async function listening(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** Whether an AMQP client can open a connection to `url`. */
export async function amqpAnswers(url: string): Promise<boolean> {
  const client = new AMQPClient(url);
  try {
    await client.connect();
  } catch {
    return false;
  }
  await client.close().catch(() => {});
  return true;
}

function pidAlive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/**
 * A running test cluster. Use with `await using`, or call `close()` in a
 * `finally`; `start()` itself cleans up when booting fails.
 */
export class Cluster implements AsyncDisposable {
  readonly nodes: readonly ClusterNode[];
  readonly dir: string;
  readonly #log: (line: string) => void;
  readonly #onSignal = new Map<Deno.Signal, () => void>();
  #closed = false;

  private constructor(dir: string, nodes: ClusterNode[], log: (line: string) => void) {
    this.dir = dir;
    this.nodes = nodes;
    this.#log = log;
    for (const [signal, status] of ENDING_SIGNALS) {
      const stop = () => {
        log(`${signal}: stopping the nodes`);
        this.close().finally(() => Deno.exit(status));
      };
      Deno.addSignalListener(signal, stop);
      this.#onSignal.set(signal, stop);
    }
  }

  /** Every node's URL, in node order. */
  get urls(): string[] {
    return this.nodes.map((node) => node.url);
  }

  /**
   * Boots the nodes in parallel, joins the others to the first, and checks
   * that all of them run in one cluster.
   */
  static async start(
    options: ClusterOptions = {},
    log: (line: string) => void = (line) => console.log(`cluster: ${line}`),
  ): Promise<Cluster> {
    const { size = 3, basePort = 5701, config = [], prefix = "c" } = options;
    for (const program of [SERVER, CTL]) {
      if (!(await Deno.stat(program).then((info) => info.isFile, () => false))) {
        throw new Error(
          `starting RabbitMQ nodes needs ${program} (Debian's rabbitmq-server package): not found`,
        );
      }
    }
    const nodes: ClusterNode[] = [];
    const firstPort = await freePorts(basePort, size);
    const runId = crypto.randomUUID().slice(0, 6);
    const dir = await Deno.makeTempDir({ prefix: "rabbitmq-cluster-" });
    for (let i = 0; i < size; i++) {
      const port = firstPort + i;
      nodes.push({
        name: `${prefix}${i + 1}-${runId}@localhost`,
        port,
        distPort: port + 20_000,
        url: `amqp://guest:guest@127.0.0.1:${port}`,
        dir: `${dir}/${prefix}${i + 1}`,
      });
    }
    const cluster = new Cluster(dir, nodes, log);
    try {
      for (const node of nodes) {
        await Deno.mkdir(node.dir);
        await Deno.writeTextFile(
          `${node.dir}/rabbitmq.conf`,
          [`listeners.tcp.local = 127.0.0.1:${node.port}`, ...config].join("\n") + "\n",
        );
        // No plugins: the management plugin would bind 15672 on every node.
        await Deno.writeTextFile(`${node.dir}/enabled_plugins`, "[].\n");
      }
      const chown = await run("chown", ["-R", "rabbitmq:rabbitmq", dir]);
      if (!chown.ok && Deno.uid() === 0) throw new Error(`chown failed: ${chown.output}`);
      await Deno.chmod(dir, 0o755);
      const t0 = performance.now();
      await Promise.all(nodes.map((node) => cluster.#boot(node)));
      log(`${size} nodes up in ${Math.round(performance.now() - t0)} ms`);
      const t1 = performance.now();
      const [first, ...others] = nodes;
      if (others.length > 0) {
        // What stop_app, join_cluster and start_app do on each joining node, in
        // one rabbitmqctl call (each call costs seconds of CLI start-up), one
        // node at a time: concurrent joins to one node can race in mnesia.
        await rabbitmqctl(
          first.name,
          "eval",
          `[begin ok = rpc:call(N, rabbit, stop, []), ` +
            `ok = rpc:call(N, rabbit_mnesia, join_cluster, ['${first.name}', disc]), ` +
            `ok = rpc:call(N, rabbit, start, []) end ` +
            `|| N <- [${others.map((node) => `'${node.name}'`).join(", ")}]].`,
        );
      }
      await cluster.waitUntilRunning(nodes);
      log(`clustered in ${Math.round(performance.now() - t1)} ms`);
      return cluster;
    } catch (error) {
      await cluster.close();
      throw error;
    }
  }

  /** The node with this name or AMQP port; throws when there is none. */
  node(nameOrPort: string | number): ClusterNode {
    const found = this.nodes.find((node) =>
      node.name === nameOrPort || node.port === nameOrPort ||
      node.url === nameOrPort || String(node.port) === String(nameOrPort)
    );
    if (!found) throw new Error(`no cluster node ${nameOrPort}`);
    return found;
  }

  /** The node a (possibly masked) URL points at, by its port; `undefined` if none. */
  nodeOfUrl(url: string | undefined): ClusterNode | undefined {
    if (url === undefined) return undefined;
    const port = Number(new URL(url).port);
    return this.nodes.find((node) => node.port === port);
  }

  /** Nodes other than `node`. */
  others(node: ClusterNode): ClusterNode[] {
    return this.nodes.filter((other) => other !== node);
  }

  /**
   * Stops a node: `"app"` stops the RabbitMQ application (the Erlang node
   * stays up and in the cluster: `stop_app`); `"node"` the whole node
   * (`rabbitmqctl stop`); `"term"` sends it SIGTERM, as an orchestrator does
   * (a graceful shutdown, without the seconds a rabbitmqctl call costs);
   * `"kill"` sends SIGKILL, a crash: its sockets are reset, nothing is closed
   * in order. Resolves once the node is down.
   */
  async stopNode(
    node: ClusterNode,
    mode: "app" | "node" | "term" | "kill" = "app",
  ): Promise<void> {
    if (mode === "app") await rabbitmqctl(node.name, "stop_app");
    else if (mode === "node") await this.#halt(node);
    else await this.#signal(node, mode === "term" ? "SIGTERM" : "SIGKILL");
  }

  /** Starts a node again after `stopNode()` and waits until it serves AMQP. */
  async startNode(node: ClusterNode): Promise<void> {
    if (await this.#erlangNodeAlive(node)) {
      await rabbitmqctl(node.name, "start_app");
    } else {
      await this.#boot(node);
    }
    await this.#waitForAmqp(node);
  }

  /** Waits until `cluster_status` (asked of a running node) lists these nodes as running. */
  async waitUntilRunning(expected: readonly ClusterNode[] = this.nodes): Promise<void> {
    const started = Date.now();
    let last = "";
    while (Date.now() - started < BOOT_TIMEOUT_MS) {
      try {
        const status = JSON.parse(
          await rabbitmqctl(expected[0].name, "cluster_status", "--formatter", "json"),
        );
        const running: string[] = status.running_nodes ?? [];
        last = running.join(", ");
        if (expected.every((node) => running.includes(node.name))) return;
      } catch (error) {
        last = String(error);
      }
      await sleep(1_000);
    }
    throw new Error(`cluster did not run ${expected.map((n) => n.name)}; last status: ${last}`);
  }

  /**
   * Which node hosts a queue: the leader of a quorum or stream queue, the
   * home node of a classic one; `undefined` if there is no such queue.
   */
  async queueNode(queue: string, vhost = "/"): Promise<ClusterNode | undefined> {
    const ask = await this.#anyRunning();
    const output = await rabbitmqctl(
      ask.name,
      "eval",
      `case rabbit_amqqueue:lookup(rabbit_misc:r(<<"${vhost}">>, queue, <<"${queue}">>)) of ` +
        `{ok, Q} -> case amqqueue:get_pid(Q) of {_, N} -> N; P -> node(P) end; ` +
        `_ -> none end.`,
    );
    // A node name with a hyphen prints as a quoted atom.
    const name = output.trim().split("\n").pop()?.trim().replace(/^'|'$/g, "");
    return this.nodes.find((node) => node.name === name);
  }

  /**
   * Makes `node` the leader of the quorum queue `queue` and waits until the
   * queue's record names it (a channel takes a quorum queue's leader from
   * there when it first publishes to it).
   */
  async moveQueueLeader(queue: string, node: ClusterNode, vhost = "/"): Promise<void> {
    if (await this.queueNode(queue, vhost) === node) return;
    const output = await rabbitmqctl(
      node.name,
      "eval",
      `{ok, Q} = rabbit_amqqueue:lookup(rabbit_misc:r(<<"${vhost}">>, queue, <<"${queue}">>)), ` +
        `rabbit_quorum_queue:transfer_leadership(Q, '${node.name}').`,
    );
    if (!(await poll(async () => await this.queueNode(queue, vhost) === node, 30_000, 250))) {
      throw new Error(`${queue}'s leader did not move to ${node.name}: ${output}`);
    }
  }

  /**
   * The node of every open AMQP connection whose client-given name
   * (`?name=` in the URL, the `connection_name` property) is `connectionName`.
   */
  async connectionNodes(connectionName: string): Promise<ClusterNode[]> {
    const ask = await this.#anyRunning();
    const rows = JSON.parse(
      await rabbitmqctl(
        ask.name,
        "list_connections",
        "port",
        "client_properties",
        "--formatter",
        "json",
      ),
    ) as { port: number; client_properties?: unknown }[];
    return rows
      .filter((row) =>
        JSON.stringify(row.client_properties ?? null).includes(`"${connectionName}"`)
      )
      .map((row) => this.node(Number(row.port)));
  }

  /** Stops every node (also ones stopped with "app") and removes the temp dir. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A second signal while the nodes stop ends the process at once.
    for (const [signal, stop] of this.#onSignal) Deno.removeSignalListener(signal, stop);
    await Promise.all(this.nodes.map((node) =>
      this.#halt(node).catch((error) => {
        this.#log(`stopping ${node.name}: ${error instanceof Error ? error.message : error}`);
      })
    ));
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #pid(node: ClusterNode): Promise<number | undefined> {
    try {
      const pid = Number((await Deno.readTextFile(`${node.dir}/pid`)).trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  async #erlangNodeAlive(node: ClusterNode): Promise<boolean> {
    const pid = await this.#pid(node);
    return pid !== undefined && pidAlive(pid) && await listening(node.distPort);
  }

  /** rabbitmqctl stop, then SIGKILL of the node's own pid if it is still alive. */
  async #halt(node: ClusterNode): Promise<void> {
    const pid = await this.#pid(node);
    if (pid === undefined || !pidAlive(pid)) return;
    try {
      await rabbitmqctl(node.name, "stop");
    } catch (error) {
      this.#log(`rabbitmqctl stop ${node.name}: ${error instanceof Error ? error.message : error}`);
    }
    for (let i = 0; i < 50 && pidAlive(pid); i++) await sleep(100);
    if (pidAlive(pid)) {
      this.#log(`${node.name} (pid ${pid}) still alive after stop: SIGKILL`);
      await this.#signal(node, "SIGKILL");
    }
    await Deno.remove(`${node.dir}/pid`).catch(() => {});
  }

  /** Sends the node's own pid `signal` and waits until it is gone (SIGKILL after 30 s). */
  async #signal(node: ClusterNode, signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    const pid = await this.#pid(node);
    if (pid === undefined || !pidAlive(pid)) return;
    const kill = (sig: Deno.Signal) => {
      try {
        Deno.kill(pid, sig);
      } catch {
        // It ended in between.
      }
    };
    kill(signal);
    for (let i = 0; i < 300 && pidAlive(pid); i++) await sleep(100);
    if (pidAlive(pid)) kill("SIGKILL");
    for (let i = 0; i < 50 && pidAlive(pid); i++) await sleep(100);
    await Deno.remove(`${node.dir}/pid`).catch(() => {});
  }

  async #boot(node: ClusterNode): Promise<void> {
    const env: Record<string, string> = {
      HOME: RABBITMQ_HOME,
      RABBITMQ_NODENAME: node.name,
      RABBITMQ_NODE_PORT: String(node.port),
      RABBITMQ_DIST_PORT: String(node.distPort),
      RABBITMQ_CONFIG_FILE: `${node.dir}/rabbitmq.conf`,
      RABBITMQ_ENABLED_PLUGINS_FILE: `${node.dir}/enabled_plugins`,
      RABBITMQ_MNESIA_BASE: `${node.dir}/mnesia`,
      RABBITMQ_LOG_BASE: `${node.dir}/log`,
      RABBITMQ_PID_FILE: `${node.dir}/pid`,
    };
    const assignments = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(" ");
    const out = shellQuote(`${node.dir}/server.out`);
    // Detached, so the node outlives the su that started it; it writes its pid file.
    const started = await asRabbitmq(
      `cd ${
        shellQuote(node.dir)
      } && ${assignments} setsid nohup ${SERVER} > ${out} 2>&1 < /dev/null &`,
    );
    if (!started.ok) throw new Error(`starting ${node.name} failed: ${started.output}`);
    await this.#waitForAmqp(node);
  }

  async #waitForAmqp(node: ClusterNode): Promise<void> {
    const started = Date.now();
    while (!(await amqpAnswers(node.url))) {
      if (Date.now() - started > BOOT_TIMEOUT_MS) {
        let tail = "";
        try {
          tail = (await Deno.readTextFile(`${node.dir}/server.out`)).slice(-2_000);
        } catch {
          // No output yet.
        }
        throw new Error(`${node.name} did not answer AMQP within ${BOOT_TIMEOUT_MS} ms\n${tail}`);
      }
      await sleep(250);
    }
  }

  async #anyRunning(): Promise<ClusterNode> {
    for (const node of this.nodes) {
      if (await listening(node.port)) return node;
    }
    throw new Error("no cluster node serves AMQP");
  }
}
