/** Loopback ports for tests. */
import net from 'node:net';

/** A loopback port with nothing listening on it (free when this returns; a test may listen on it or show that nothing does). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
