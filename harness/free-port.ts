import { createServer } from 'node:net'

/**
 * A port on 127.0.0.1 that was free a moment ago (addresses must be known
 * before configs are written). With `bus`, port + 10000 was free too: a
 * Redis Cluster node listens on both. With `next`, port + 1 was free too: a
 * demo upstream's second region listens there.
 *
 * Ports are drawn at random below Linux's ephemeral range (32768 and up), never
 * from the kernel's pick for port 0: a port from that range, free when checked,
 * could become the local end of any outgoing connection (to Redis, to an
 * upstream) before the server meant for it binds, and a test failed with
 * EADDRINUSE now and then. Below the range only another test's draw of the
 * same port in the same moment can collide.
 */
export async function freePort (options: { bus?: boolean, next?: boolean } = {}): Promise<number> {
  const offset = options.bus ? 10_000 : options.next ? 1 : 0
  const low = 10_000
  const span = EPHEMERAL_START - offset - low
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * span)
    const free = await listenOn(port).then(async () => { if (offset > 0) await listenOn(port + offset) }).then(() => true, () => false)
    if (free) return port
  }
  throw new Error(offset === 0 ? 'no free port below 32768' : `no free pair of ports ${offset} apart below 32768`)
}

/** The first port Linux hands out for outgoing connections and `listen(0)` by default (net.ipv4.ip_local_port_range). */
const EPHEMERAL_START = 32_768

/** Listens on `port`, closes, and resolves with it. */
async function listenOn (port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as { port: number }).port
      server.close(() => resolve(bound))
    })
  })
}
