import { createServer } from 'node:net'

/**
 * A port on 127.0.0.1 that was free a moment ago (addresses must be known
 * before configs are written). With `bus`, port + 10000 was free too: a
 * Redis Cluster node listens on both. With `next`, port + 1 was free too: a
 * demo upstream's second region listens there. The kernel's pick for port 0
 * leaves no room above it, so such a pair is drawn at random below 50000.
 */
export async function freePort (options: { bus?: boolean, next?: boolean } = {}): Promise<number> {
  const offset = options.bus ? 10_000 : options.next ? 1 : 0
  if (offset === 0) return listenOn(0)
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000)
    if (await listenOn(port).then(() => listenOn(port + offset)).then(() => true, () => false)) return port
  }
  throw new Error(`no free pair of ports ${offset} apart`)
}

/** Listens on `port` (0: any), closes, and resolves with the port that was bound. */
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
