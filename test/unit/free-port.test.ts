/** freePort (local/embedded-postgres.ts): a port below the kernel's ephemeral range, free to listen on. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { freePort } from '../../local/embedded-postgres.ts';

test('freePort gives a port outside the ephemeral range, which outgoing connections cannot take meanwhile', async () => {
  const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  const ports = await Promise.all([1, 2, 3, 4, 5].map(() => freePort()));
  for (const port of ports) {
    assert.ok(port >= 1024 && port < low, `${port} is below the ephemeral range starting at ${low}`);
    // Free indeed: a server can listen on it.
    await new Promise<void>((resolve, reject) => {
      const server = net.createServer().once('error', reject);
      server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
    });
  }
});
