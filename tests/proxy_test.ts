import { AMQPClient } from "@cloudamqp/amqp-client";
import { TcpProxy } from "./_proxy.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function assertEquals<T>(actual: T, expected: T, message = ""): void {
  if (actual !== expected) {
    throw new Error(`${message}expected ${String(expected)}, got ${String(actual)}`);
  }
}

/** Resolves with `promise`'s value, or with "timeout" after `ms`; never leaves a timer behind. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A TCP server that writes back whatever it reads, to stand in for a target. */
function startEchoServer(): { port: number } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.TcpConn>();
  const echoes: Promise<void>[] = [];
  const echo = async (conn: Deno.TcpConn) => {
    conns.add(conn);
    try {
      await conn.readable.pipeTo(conn.writable);
    } catch {
      // The proxy dropped the connection: the point of most tests here.
    } finally {
      conns.delete(conn);
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) echoes.push(echo(conn));
  })();
  return {
    port: listener.addr.port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // The echo stream closed it itself a moment ago.
        }
      }
      await Promise.all(echoes);
    },
  };
}

function connectTo(proxy: TcpProxy): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
}

/** Reads until `length` bytes arrived; fails if the socket closes first. */
async function readText(conn: Deno.Conn, length: number): Promise<string> {
  const bytes = new Uint8Array(length);
  let received = 0;
  while (received < length) {
    const n = await conn.read(bytes.subarray(received));
    if (n === null) throw new Error(`socket closed after ${received} of ${length} bytes`);
    received += n;
  }
  return decoder.decode(bytes);
}

async function assertEchoes(conn: Deno.Conn, text: string): Promise<void> {
  await conn.write(encoder.encode(text));
  assertEquals(await readText(conn, text.length), text);
}

/** True when the peer closed or reset the socket, as a client sees a network cut. */
async function isClosedByPeer(conn: Deno.Conn): Promise<boolean> {
  try {
    return (await conn.read(new Uint8Array(16))) === null;
  } catch (err) {
    return err instanceof Deno.errors.ConnectionReset;
  }
}

Deno.test("TcpProxy forwards bytes both ways", async () => {
  await using echo = startEchoServer();
  await using proxy = await TcpProxy.start({ targetPort: echo.port });
  using conn = await connectTo(proxy);

  await assertEchoes(conn, "hello");
  await assertEchoes(conn, "x".repeat(200_000));
  assertEquals(proxy.connectionCount, 1);
  assertEquals(proxy.totalConnections, 1);
});

Deno.test("dropConnections() closes the client's socket and keeps accepting", async () => {
  await using echo = startEchoServer();
  await using proxy = await TcpProxy.start({ targetPort: echo.port });
  using first = await connectTo(proxy);
  await assertEchoes(first, "before");

  proxy.dropConnections();

  assertEquals(await isClosedByPeer(first), true, "client socket closed: ");
  assertEquals(proxy.connectionCount, 0);
  using second = await connectTo(proxy);
  await assertEchoes(second, "after");
  assertEquals(proxy.totalConnections, 2);
});

Deno.test("refuse() closes new connections at once until restore()", async () => {
  await using echo = startEchoServer();
  await using proxy = await TcpProxy.start({ targetPort: echo.port });
  using existing = await connectTo(proxy);
  await assertEchoes(existing, "one");

  proxy.refuse();

  using refused = await connectTo(proxy);
  assertEquals(await isClosedByPeer(refused), true, "refused socket closed: ");
  await assertEchoes(existing, "existing connections keep forwarding");
  assertEquals(proxy.connectionCount, 1);

  proxy.restore();

  using fresh = await connectTo(proxy);
  await assertEchoes(fresh, "two");
  assertEquals(proxy.totalConnections, 3);
});

Deno.test("outage() drops connections and refuses new ones", async () => {
  await using echo = startEchoServer();
  await using proxy = await TcpProxy.start({ targetPort: echo.port });
  using conn = await connectTo(proxy);
  await assertEchoes(conn, "up");

  proxy.outage();

  assertEquals(await isClosedByPeer(conn), true, "client socket closed: ");
  using refused = await connectTo(proxy);
  assertEquals(await isClosedByPeer(refused), true, "refused socket closed: ");
  proxy.restore();
  using fresh = await connectTo(proxy);
  await assertEchoes(fresh, "back");
});

Deno.test("stall() holds bytes in order and restore() delivers them", async () => {
  await using echo = startEchoServer();
  await using proxy = await TcpProxy.start({ targetPort: echo.port });
  using conn = await connectTo(proxy);
  await assertEchoes(conn, "warm");

  proxy.stall();
  await conn.write(encoder.encode("held-"));
  await conn.write(encoder.encode("back"));
  const reply = readText(conn, "held-back".length);
  assertEquals(await within(reply, 200), "timeout", "nothing forwarded while stalled: ");
  assertEquals(proxy.connectionCount, 1);

  proxy.restore();

  assertEquals(await reply, "held-back");
});

Deno.test("close() ends stalled connections without leaking ops", async () => {
  await using echo = startEchoServer();
  const proxy = await TcpProxy.start({ targetPort: echo.port });
  using conn = await connectTo(proxy);
  proxy.stall();
  await conn.write(encoder.encode("never delivered"));

  await proxy.close();

  assertEquals(await isClosedByPeer(conn), true, "client socket closed: ");
  assertEquals(proxy.mode, "closed");
});

Deno.test("dropConnections() makes an AMQP client notice the lost connection", async () => {
  await using proxy = await TcpProxy.start();
  const client = new AMQPClient(proxy.url);
  const disconnected = Promise.withResolvers<Error | undefined>();
  client.ondisconnect = (err) => disconnected.resolve(err);
  await client.connect();
  const channel = await client.channel();
  await channel.basicPublish("", `proxy-test-${crypto.randomUUID()}`, "before the cut");

  const cutAt = performance.now();
  proxy.dropConnections();

  const error = await within(disconnected.promise, 2_000);
  const noticedAfterMs = performance.now() - cutAt;
  if (error === "timeout") throw new Error("ondisconnect did not fire within 2 s");
  assertEquals(client.closed, true);
  assertEquals(channel.closed, true);
  assertEquals(error?.message, "Socket closed");
  assertEquals(noticedAfterMs < 1_000, true, `noticed after ${noticedAfterMs} ms: `);
  let publishError: unknown;
  await channel.basicPublish("", "q", "after the cut").catch((err) => publishError = err);
  assertEquals(publishError instanceof Error, true, "publish after the cut rejects: ");
});

Deno.test("refuse() makes AMQPClient.connect() reject", async () => {
  await using proxy = await TcpProxy.start();
  proxy.refuse();
  const client = new AMQPClient(proxy.url);

  let connectError: unknown;
  await client.connect().catch((err) => connectError = err);

  assertEquals((connectError as Error | undefined)?.message, "Connection ended");
  assertEquals(client.closed, true);
});
