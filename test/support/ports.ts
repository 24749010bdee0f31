import net from 'node:net';

/**
 * `n` distinct free ports on 127.0.0.1 for a server a test starts (the Temporal dev server's
 * gRPC and UI ports). Below the kernel's ephemeral range (freeLowPorts): a port the kernel hands
 * out for listening on 0 is also what it hands to outgoing connections, and CI saw one taken in
 * the seconds before the server bound it ("bind: address already in use").
 */
export function freePorts(n: number): Promise<number[]> {
  return freeLowPorts(n);
}

/**
 * `n` distinct free ports below 32768, for servers that store a port in a signed 16-bit column
 * (the Temporal server's cluster membership table): the kernel's ephemeral ports are above it.
 * Random candidates from 20000 up, each held open until all are found.
 */
export async function freeLowPorts(n: number, from = 20000, below = 32768): Promise<number[]> {
  const held: net.Server[] = [];
  const ports: number[] = [];
  for (let tries = 0; ports.length < n; tries++) {
    if (tries > 1000) throw new Error(`no ${n} free ports in ${from}–${below - 1}`);
    const port = from + Math.floor(Math.random() * (below - from));
    if (ports.includes(port)) continue;
    const server = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!ok) continue;
    held.push(server);
    ports.push(port);
  }
  await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}
