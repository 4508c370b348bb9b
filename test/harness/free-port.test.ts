import { createServer } from 'node:net'
import t from 'tap'
import { freePort } from '../../harness/free-port.js'

async function bind (port: number): Promise<() => Promise<void>> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  return async () => new Promise<void>((resolve) => server.close(() => resolve()))
}

t.test('ports come from below the ephemeral range, where no outgoing connection can take them', async (t) => {
  for (const options of [{}, { next: true }, { bus: true }]) {
    const port = await freePort(options)
    const offset = 'bus' in options ? 10_000 : 'next' in options ? 1 : 0
    t.ok(port >= 10_000 && port + offset < 32_768, `${JSON.stringify(options)}: ${port} (+${offset}) below 32768`)
    const closers = [await bind(port)]
    if (offset > 0) closers.push(await bind(port + offset))
    for (const close of closers) await close()
  }
})

t.test('a port that is taken is never handed out', async (t) => {
  const taken: Array<() => Promise<void>> = []
  const seen = new Set<number>()
  for (let i = 0; i < 20; i++) {
    const port = await freePort()
    t.notOk(seen.has(port), `${port} not handed out while bound`)
    seen.add(port)
    taken.push(await bind(port))
  }
  for (const close of taken) await close()
})
