/** Test support: an HTTP endpoint that accepts connections and never answers. */
/**
 * A TCP server that reads requests and never answers, as a hung endpoint does;
 * `abandoned` settles once a client has given up and closed its connection.
 *
 * @param path appended to the server's origin in `url`, such as `/jwks.json`
 */
export function silentServer(
  path = "",
): { url: string; abandoned: Promise<void> } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let markAbandoned!: () => void;
  const abandoned = new Promise<void>((resolve) => (markAbandoned = resolve));
  const connections = new Set<Deno.Conn>();
  const holders: Promise<void>[] = [];
  const hold = async (conn: Deno.Conn) => {
    const buffer = new Uint8Array(4096);
    try {
      while ((await conn.read(buffer)) !== null) {
        // read the request and say nothing
      }
      markAbandoned();
    } catch {
      // closed by dispose
    } finally {
      connections.delete(conn);
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        connections.add(conn);
        holders.push(hold(conn));
      }
    } catch {
      // listener closed
    }
  })();
  return {
    url: `http://127.0.0.1:${listener.addr.port}${path}`,
    abandoned,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of connections) conn.close();
      await accepting;
      await Promise.all(holders);
    },
  };
}
