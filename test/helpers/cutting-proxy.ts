/**
 * A loopback TCP proxy that cuts each connection after it has carried a set
 * number of bytes towards the server, for its first `cuts` connections, and
 * can corrupt one byte once: the flaky network a capture kernel lives on.
 */
import net from 'node:net';

export interface CuttingProxyOptions {
  targetPort: number;
  /** Cut a connection once this many client-to-server bytes have passed. */
  cutAfterBytes: number;
  /** How many connections to cut; later ones pass untouched. */
  cuts: number;
  /** Flip one byte at this client-to-server offset of the first connection. */
  corruptAt?: number;
}

export interface CuttingProxy {
  port: number;
  connections: number;
  cutsDone: number;
  close(): Promise<void>;
}

export async function startCuttingProxy(options: CuttingProxyOptions): Promise<CuttingProxy> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0, cutsDone: 0 };
  const server = net.createServer((client) => {
    const index = state.connections++;
    const upstream = net.connect({ host: '127.0.0.1', port: options.targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    const cutThis = index < options.cuts;
    let passed = 0;
    client.on('data', (data: Buffer) => {
      let chunk = data;
      if (index === 0 && options.corruptAt !== undefined && options.corruptAt >= passed && options.corruptAt < passed + chunk.length) {
        chunk = Buffer.from(chunk);
        chunk[options.corruptAt - passed] ^= 0xff;
      }
      if (cutThis && passed + chunk.length >= options.cutAfterBytes) {
        upstream.write(chunk.subarray(0, options.cutAfterBytes - passed));
        state.cutsDone++;
        client.destroy();
        upstream.destroy();
        return;
      }
      passed += chunk.length;
      upstream.write(chunk);
    });
    upstream.on('data', (data: Buffer) => client.write(data));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() { return state.connections; },
    get cutsDone() { return state.cutsDone; },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
