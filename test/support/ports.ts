import net from 'node:net';

/**
 * `n` distinct free ports on 127.0.0.1 for a server a test starts (the Temporal dev server's
 * gRPC and UI ports). All listeners stay open until every port is known: asking for one port at a
 * time can hand back the same port twice, since each is released before the next is chosen.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.on('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}
