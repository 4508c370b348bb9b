import net from 'node:net'
import { performance } from 'node:perf_hooks'

/** Which way latency applies: `upstream` is client → target, `downstream` is target → client. */
export type FaultDirection = 'upstream' | 'downstream' | 'both'

/** When a fault ends by itself: `durationMs` after it is set, or at `expiresAt` (epoch milliseconds). */
export interface FaultExpiry {
  durationMs?: number
  expiresAt?: number
}

/** What the proxy does to traffic; one fault at a time, applied to new and existing connections alike. */
export type Fault =
  | { kind: 'none' }
  | ({ kind: 'latency', ms: number, jitterMs?: number, direction?: FaultDirection } & FaultExpiry)
  | ({ kind: 'refuse' } & FaultExpiry)
  | ({ kind: 'blackhole' } & FaultExpiry)
  | ({ kind: 'reset', after?: number } & FaultExpiry)

/** Counters since the proxy started. */
export interface FaultProxyStats {
  accepted: number
  active: number
  /** Open connections closed by a refuse fault; attempts the OS refused never reach the proxy. */
  refused: number
  /** Connections ended with a TCP RST by a reset fault. */
  reset: number
  /** Connections silenced by a blackhole fault (each time one begins). */
  blackholed: number
  /** Bytes forwarded client → target. */
  bytesUpstream: number
  /** Bytes forwarded target → client. */
  bytesDownstream: number
}

export interface FaultProxyOptions {
  target: { host: string, port: number }
  /** Defaults to 127.0.0.1. */
  host?: string
  /** Defaults to 0 (any free port); kept across refuse faults. */
  port?: number
  /** Names the proxy in errors and game-day reports; defaults to the target address. */
  name?: string
  /** Receives errors no caller can be handed: a failed re-listen when a fault expires, or an accept error. Defaults to a process warning. */
  onError?: (err: Error) => void
}

export interface FaultProxy {
  readonly name: string
  readonly host: string
  readonly port: number
  /** `host:port`, ready for a URL or a Redis address. */
  readonly address: string
  readonly target: { readonly host: string, readonly port: number }
  readonly fault: Fault
  /** Applies a fault now; resolves once it holds (for refuse: once the port is closed or open again). */
  setFault (fault: Fault): Promise<void>
  /** Same as `setFault({ kind: 'none' })`. */
  clearFault (): Promise<void>
  stats (): FaultProxyStats
  /** Destroys every connection and stops listening; leaves no handle or timer behind. */
  close (): Promise<void>
}

// Per direction, how much delayed data may wait in the proxy before the sender is paused.
const HIGH_WATER_MARK = 64 * 1024
const MAX_TIMER_MS = 2 ** 31 - 1
const NONE: Fault = Object.freeze({ kind: 'none' })

/** Starts a TCP proxy to `target` whose traffic can be delayed, refused, blackholed or reset on demand. */
export async function startFaultProxy (options: FaultProxyOptions): Promise<FaultProxy> {
  const { target, host = '127.0.0.1', port = 0 } = options
  if (typeof target?.host !== 'string' || target.host === '') throw new TypeError('fault proxy target.host must be a non-empty string')
  checkPort('target.port', target.port, 1)
  if (typeof host !== 'string' || host === '') throw new TypeError('fault proxy host must be a non-empty string')
  checkPort('port', port, 0)
  const proxy = new TcpFaultProxy({ host: target.host, port: target.port }, host, options.name ?? formatAddress(target.host, target.port), options.onError ?? ((err) => process.emitWarning(err)))
  await proxy.start(port)
  return proxy
}

class TcpFaultProxy implements FaultProxy {
  port = 0
  current: Fault = NONE
  readonly counters = { accepted: 0, refused: 0, reset: 0, blackholed: 0, bytesUpstream: 0, bytesDownstream: 0 }
  private readonly connections = new Set<Connection>()
  private server: net.Server | undefined
  private expiry: NodeJS.Timeout | undefined
  // Listening changes are serialised so that a refuse and its clearing cannot overtake each other.
  private transition: Promise<void> = Promise.resolve()
  private closing: Promise<void> | undefined

  readonly target: { host: string, port: number }
  readonly host: string
  readonly name: string
  private readonly onError: (err: Error) => void
  constructor (target: { host: string, port: number }, host: string, name: string, onError: (err: Error) => void) {
    this.target = target
    this.host = host
    this.name = name
    this.onError = onError
  }

  get address (): string { return formatAddress(this.host, this.port) }

  get fault (): Fault { return this.current }

  async start (port: number): Promise<void> {
    this.server = await this.listen(port)
    this.port = (this.server.address() as net.AddressInfo).port
  }

  async setFault (fault: Fault): Promise<void> {
    if (this.closing !== undefined) throw new Error(`fault proxy ${this.name} is closed`)
    const expiresIn = checkFault(fault, this.name)
    this.current = Object.freeze({ ...fault })
    clearTimeout(this.expiry)
    this.expiry = expiresIn === undefined ? undefined : setTimeout(() => { this.clearFault().catch(this.onError) }, expiresIn).unref()
    for (const connection of this.connections) connection.apply(this.current)
    await this.setListening(fault.kind !== 'refuse')
  }

  async clearFault (): Promise<void> {
    await this.setFault(NONE)
  }

  stats (): FaultProxyStats {
    return { ...this.counters, active: this.connections.size }
  }

  close (): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  forget (connection: Connection): void {
    this.connections.delete(connection)
  }

  private async shutdown (): Promise<void> {
    clearTimeout(this.expiry)
    await this.transition
    const connections = [...this.connections]
    for (const connection of connections) connection.destroy()
    await Promise.all([this.stopListening(), ...connections.map(async (c) => c.done)])
  }

  private setListening (listening: boolean): Promise<void> {
    const next = this.transition.then(async () => {
      if (this.closing !== undefined || listening === (this.server !== undefined)) return
      if (listening) this.server = await this.listen(this.port)
      else await this.stopListening()
    })
    this.transition = next.catch(() => {})
    return next
  }

  // A fresh server per listening period: closing one frees the port at once, so the OS refuses while the fault lasts.
  private async listen (port: number): Promise<net.Server> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.accept(socket))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host: this.host, port }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', this.onError)
    return server
  }

  private async stopListening (): Promise<void> {
    const server = this.server
    this.server = undefined
    if (server !== undefined) await new Promise((resolve) => server.close(resolve))
  }

  private accept (socket: net.Socket): void {
    this.counters.accepted++
    const connection = new Connection(this, socket)
    this.connections.add(connection)
    connection.apply(this.current)
  }
}

/** One client connection and, once forwarding starts, its connection to the target. */
class Connection {
  readonly done: Promise<void>
  private upstream: net.Socket | undefined
  private pumps: Pump[] = []
  private open = 1
  private bytes = 0
  private resetFrom = 0
  private silenced = false
  private cutting = false
  private stopped = false
  private finished!: () => void

  private readonly proxy: TcpFaultProxy
  private readonly client: net.Socket
  constructor (proxy: TcpFaultProxy, client: net.Socket) {
    this.proxy = proxy
    this.client = client
    this.done = new Promise((resolve) => { this.finished = resolve })
    this.watch(client)
  }

  /** True while nothing may be forwarded: blackholed, or about to be reset. */
  get held (): boolean { return this.silenced || this.cutting }

  apply (fault: Fault): void {
    if (this.stopped) return
    if (fault.kind === 'refuse') {
      this.proxy.counters.refused++
      this.destroy()
      return
    }
    if (fault.kind === 'reset' && (fault.after ?? 0) === 0) {
      this.reset()
      return
    }
    if (fault.kind === 'reset') this.resetFrom = this.bytes
    if (fault.kind === 'blackhole' && !this.silenced) this.proxy.counters.blackholed++
    this.silenced = fault.kind === 'blackhole'
    // A blackholed connection never reaches the target, as its SYN would not; it connects when the fault lifts.
    if (!this.silenced) this.connect()
    for (const pump of this.pumps) pump.flush()
  }

  delay (direction: 'upstream' | 'downstream'): number {
    const fault = this.proxy.current
    if (fault.kind !== 'latency' || ![direction, 'both'].includes(fault.direction ?? 'both')) return 0
    return fault.ms + Math.random() * (fault.jitterMs ?? 0)
  }

  /** Bytes left before a `reset` fault with `after` cuts this connection. */
  budget (): number {
    const fault = this.proxy.current
    return fault.kind === 'reset' && fault.after !== undefined ? fault.after - (this.bytes - this.resetFrom) : Infinity
  }

  count (direction: 'upstream' | 'downstream', bytes: number): void {
    this.bytes += bytes
    this.proxy.counters[direction === 'upstream' ? 'bytesUpstream' : 'bytesDownstream'] += bytes
  }

  /** Stops both directions now and resets once `last` has been written. */
  cut (socket: net.Socket, last: Buffer): void {
    this.cutting = true
    socket.write(last, () => this.reset())
  }

  reset (): void {
    if (this.stopped) return
    this.stop()
    this.proxy.counters.reset++
    rst(this.client)
    if (this.upstream !== undefined) rst(this.upstream)
  }

  destroy (): void {
    if (this.stopped) return
    this.stop()
    this.client.destroy()
    this.upstream?.destroy()
  }

  private connect (): void {
    if (this.upstream !== undefined || this.stopped) return
    const upstream = net.connect({ ...this.proxy.target, allowHalfOpen: true })
    this.upstream = upstream
    this.open++
    this.watch(upstream)
    this.pumps = [new Pump(this, 'upstream', this.client, upstream), new Pump(this, 'downstream', upstream, this.client)]
  }

  private watch (socket: net.Socket): void {
    socket.setNoDelay(true)
    // Failures are acted on in 'close' (hadError); the error itself belongs to whoever sits at the other end.
    socket.on('error', () => {})
    socket.on('close', (hadError) => this.closed(socket, hadError))
  }

  private closed (socket: net.Socket, hadError: boolean): void {
    const peer = socket === this.client ? this.upstream : this.client
    // A clean close leaves the peer to finish sending what is still queued; anything else is passed on, RST for RST.
    if (peer !== undefined && hadError) rst(peer)
    else if (peer !== undefined && this.pumps.find((p) => p.src === socket)?.ended !== true) peer.destroy()
    if (--this.open > 0) return
    this.stop()
    this.proxy.forget(this)
    this.finished()
  }

  private stop (): void {
    this.stopped = true
    for (const pump of this.pumps) pump.stop()
  }
}

/** One direction of a connection: reads `src`, delays or holds per the fault, writes `dst`, in order. */
class Pump {
  ended = false
  private readonly queue: Array<{ chunk: Buffer | null, due: number }> = []
  private queued = 0
  private lastDue = 0
  private blocked = false
  private timer: NodeJS.Timeout | undefined

  private readonly connection: Connection
  private readonly direction: 'upstream' | 'downstream'
  readonly src: net.Socket
  private readonly dst: net.Socket
  constructor (connection: Connection, direction: 'upstream' | 'downstream', src: net.Socket, dst: net.Socket) {
    this.connection = connection
    this.direction = direction
    this.src = src
    this.dst = dst
    src.on('data', (chunk: Buffer) => this.push(chunk))
    src.on('end', () => {
      this.ended = true
      this.push(null)
    })
    dst.on('drain', () => {
      this.blocked = false
      this.flush()
    })
    this.steer()
  }

  flush (): void {
    this.stop()
    while (!this.blocked && !this.connection.held && this.queue.length > 0 && !this.dst.destroyed) {
      const next = this.queue[0]!
      const wait = next.due - performance.now()
      if (wait > 0) {
        // unref: open sockets keep the process alive, a queued chunk alone must not.
        this.timer = setTimeout(() => this.flush(), wait).unref()
        break
      }
      this.queue.shift()
      if (next.chunk === null) this.dst.end()
      else this.forward(next.chunk)
    }
    this.steer()
  }

  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private push (chunk: Buffer | null): void {
    // Never due before the chunk ahead of it, so jitter cannot reorder the stream.
    this.lastDue = Math.max(this.lastDue, performance.now() + this.connection.delay(this.direction))
    this.queue.push({ chunk, due: this.lastDue })
    this.queued += chunk?.length ?? 0
    this.flush()
  }

  private forward (chunk: Buffer): void {
    this.queued -= chunk.length
    const budget = this.connection.budget()
    const last = chunk.length >= budget
    const part = last ? chunk.subarray(0, budget) : chunk
    this.connection.count(this.direction, part.length)
    if (last) this.connection.cut(this.dst, part)
    else this.blocked = !this.dst.write(part)
  }

  // Backpressure: the sender waits while the receiver is slow, the fault holds traffic, or too much is delayed.
  private steer (): void {
    if (this.blocked || this.connection.held || this.queued > HIGH_WATER_MARK) this.src.pause()
    else this.src.resume()
  }
}

/** Ends a socket with a TCP RST where Node can (20.14+), else destroys it. */
function rst (socket: net.Socket): void {
  if (socket.destroyed) return
  // resetAndDestroy waits for a pending connect that may never come; a plain destroy is right there.
  if (typeof socket.resetAndDestroy === 'function' && !socket.connecting) socket.resetAndDestroy()
  else socket.destroy()
}

function formatAddress (host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

function checkPort (label: string, port: unknown, min: number): void {
  if (!Number.isInteger(port) || (port as number) < min || (port as number) > 65535) throw new RangeError(`fault proxy ${label} must be an integer from ${min} to 65535, got ${String(port)}`)
}

/** Checks a fault up front and returns in how many milliseconds it expires, if it does. */
function checkFault (fault: Fault, name: string): number | undefined {
  const fail = (problem: string): never => { throw new RangeError(`fault proxy ${name}: ${problem}`) }
  const atLeastZero = (label: string, value: unknown): void => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(`${label} must be a finite number ≥ 0, got ${String(value)}`)
  }
  switch (fault.kind) {
    case 'none': return undefined
    case 'refuse': case 'blackhole': break
    case 'latency':
      atLeastZero('latency ms', fault.ms)
      if (fault.jitterMs !== undefined) atLeastZero('latency jitterMs', fault.jitterMs)
      if (fault.direction !== undefined && !['upstream', 'downstream', 'both'].includes(fault.direction)) fail(`latency direction must be upstream, downstream or both, got ${String(fault.direction)}`)
      break
    case 'reset':
      if (fault.after !== undefined && !Number.isSafeInteger(fault.after)) fail(`reset after must be a whole number of bytes, got ${String(fault.after)}`)
      atLeastZero('reset after', fault.after ?? 0)
      break
    default: fail(`unknown fault kind ${String((fault as { kind: unknown }).kind)}`)
  }
  if (fault.durationMs !== undefined && fault.expiresAt !== undefined) fail('give durationMs or expiresAt, not both')
  if (fault.expiresAt !== undefined) atLeastZero('expiresAt', fault.expiresAt)
  if (fault.durationMs !== undefined) atLeastZero('durationMs', fault.durationMs)
  const expiresIn = fault.durationMs ?? (fault.expiresAt === undefined ? undefined : Math.max(0, fault.expiresAt - Date.now()))
  if (expiresIn !== undefined && expiresIn > MAX_TIMER_MS) fail(`a fault can last at most ${MAX_TIMER_MS} ms`)
  return expiresIn
}
