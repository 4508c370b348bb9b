import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent, request } from 'undici'

/** A gateway region behind the load balancer. */
export interface Backend { name: string, url: string }

/** A change in where the load balancer sends traffic, for the game-day timeline. */
export interface BackendTransition { at: number, backend: string, up: boolean, reason: string }

/** Errors that mean no response was started, so the request may go to the next region. */
const RETRY_ON = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT'])
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'content-length', 'expect'])
const MAX_BODY_BYTES = 256 * 1024

/**
 * The front door of the game-day topology: the issuer's address, as a
 * regional load balancer (or anycast address) would be. It prefers the first
 * backend (region A) and sends a request to the next one when the preferred
 * one refuses the connection or drops it before answering, once per request
 * (Envoy's `retry_on: connect-failure,reset`); an answer to a request that a
 * region dropped after it may have been sent carries `x-gameday-dropped`, so
 * the game day knows that request was inside a process when it died. A request that got no answer
 * from any region is answered 502; one that timed out, 504, as a real load
 * balancer would, and the game day counts both as 5xx.
 */
export class LoadBalancer {
  readonly #backends: Backend[]
  readonly #agent = new Agent({ keepAliveTimeout: 4_000, connect: { timeout: 2_000 }, headersTimeout: 15_000, bodyTimeout: 15_000 })
  readonly #down = new Set<string>()
  readonly #onTransition: (t: BackendTransition) => void
  #server: Server | undefined
  url = ''

  constructor (backends: Backend[], onTransition: (t: BackendTransition) => void) {
    this.#backends = backends
    this.#onTransition = onTransition
  }

  /** Listens on `port` of 127.0.0.1 (the issuer's port, chosen before the gateways' configs are written). */
  async listen (port: number): Promise<void> {
    const server = createServer((req, res) => { this.#handle(req, res).catch(() => res.destroy()) })
    server.keepAliveTimeout = 5_000
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
    this.#server = server
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  /** Stops listening, cuts open connections and closes the connections to the gateways. */
  async close (): Promise<void> {
    const server = this.#server
    this.#server = undefined
    if (server) {
      const closed = new Promise((resolve) => server.close(resolve))
      server.closeAllConnections()
      await closed
    }
    await this.#agent.close()
  }

  async #handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req)
    if (body === undefined) {
      res.writeHead(413).end()
      return
    }
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value
    let retried = false
    // Set when a region dropped the request after it may have been sent: the request was inside a process that died.
    let dropped: string | undefined
    for (const backend of this.#backends) {
      try {
        const answer = await request(backend.url + (req.url ?? '/'), {
          method: req.method as 'GET',
          headers,
          ...(body.length > 0 ? { body } : {}),
          dispatcher: this.#agent,
        })
        this.#mark(backend, true, 'answered')
        const out: Record<string, string | string[]> = { 'x-gameday-backend': backend.name, ...(dropped ? { 'x-gameday-dropped': dropped } : {}) }
        for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
        res.writeHead(answer.statusCode, out)
        for await (const chunk of answer.body) res.write(chunk)
        res.end()
        return
      } catch (err) {
        const code = (err as { code?: string }).code ?? ''
        if (res.headersSent) throw err
        if (!RETRY_ON.has(code)) {
          res.writeHead(code.includes('TIMEOUT') ? 504 : 502, { 'x-gameday-lb': `${backend.name}: ${code || 'error'}` }).end()
          return
        }
        this.#mark(backend, false, code)
        if (code !== 'ECONNREFUSED' && code !== 'UND_ERR_CONNECT_TIMEOUT') dropped = `${backend.name}: ${code}`
        if (retried) break
        retried = true
      }
    }
    res.writeHead(502, { 'x-gameday-lb': 'no backend answered', ...(dropped ? { 'x-gameday-dropped': dropped } : {}) }).end()
  }

  #mark (backend: Backend, up: boolean, reason: string): void {
    if (up === !this.#down.has(backend.name)) return
    if (up) this.#down.delete(backend.name)
    else this.#down.add(backend.name)
    this.#onTransition({ at: Date.now(), backend: backend.name, up, reason })
  }
}

async function readBody (req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY_BYTES) return undefined
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}
