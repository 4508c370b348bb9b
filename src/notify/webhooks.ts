import { createHmac } from 'node:crypto'
import { Agent, request } from 'undici'
import type { IdentityEvent } from '../backup/identity-events.js'
import type { Config } from '../config/resolve.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'
import { identityEventId } from './event-id.js'
import { guardedLookup } from './receiver-address.js'
import type { WEBHOOK_EVENTS } from '../config/schema.js'

export type WebhookEventType = typeof WEBHOOK_EVENTS[number]

/** An outage event: a region's breaker, or a whole provider, changed state. */
export interface OutageEvent {
  id: string
  type: Exclude<WebhookEventType, IdentityEvent['type']>
  at: string
  instance: string
  provider: string
  region?: string
  regions: Record<string, string>
  message: string
}

/** A change to a person's backup login methods: who, which method, and who made it; never a key, a secret or a claim. */
export interface IdentityWebhookEvent {
  id: string
  type: IdentityEvent['type']
  at: string
  instance: string
  /** The person's gateway `sub`, as relying parties know them. */
  sub: string
  provider?: string
  /** The passkey's credential id (public: the browser sends it with every login). */
  passkey?: string
  actor: IdentityEvent['actor']
  message: string
}

/** What a receiver gets: JSON, signed in the `understudy-signature` header. */
export type WebhookEvent = OutageEvent | IdentityWebhookEvent

/** An outage event as `emit` takes it: its id the one every pod gives that change (OutageEventIds), the time stamped there. */
export type NewOutageEvent = Omit<OutageEvent, 'at'>

export interface WebhookOptions {
  /** Waits between attempts; the last one gives up. Default 1 s, 2 s, 4 s, 8 s, 16 s. */
  retryDelaysMs?: number[]
  timeoutMs?: number
  /** Most deliveries waiting per receiver; more are dropped and counted. */
  queueLimit?: number
  /** The clock (ms since the epoch) and the source of retry jitter (tests). */
  now?: () => number
  random?: () => number
  /** How receiver names are resolved (tests); every address is checked against the refused ones. */
  lookup?: Parameters<typeof guardedLookup>[0]
}

const DEFAULT_DELAYS = [1_000, 2_000, 4_000, 8_000, 16_000]

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`, one `v1` per secret
 * (the current one first, then the one being rotated out), so a receiver
 * holding either accepts it. The timestamp is signed too, so a receiver can
 * refuse replays.
 */
export function signWebhook (secrets: readonly string[], body: string, at = Math.floor(Date.now() / 1000)): string {
  return [`t=${at}`, ...secrets.map((secret) => `v1=${createHmac('sha256', secret).update(`${at}.${body}`).digest('hex')}`)].join(',')
}

/** A retry delay with jitter (half to all of `delayMs`), so that pods which failed together do not retry together. */
export function jittered (delayMs: number, random: () => number = Math.random): number {
  return Math.round(delayMs * (0.5 + random() / 2))
}

/**
 * Notifications to the configured receivers: outage events and changes to
 * people's backup login methods. `emit` and `emitIdentity` only enqueue:
 * delivery, timeouts and retries with backoff happen in the background, so a
 * slow or dead receiver is never in the way of a login.
 */
export class Webhooks {
  readonly #hooks: Config['webhooks']
  readonly #metrics: Metrics
  readonly #log: Logger
  readonly #options: Required<Omit<WebhookOptions, 'lookup'>>
  /** Connects only to addresses that are not refused, whatever DNS answers. */
  readonly #dispatcher: Agent
  readonly #pending = new Map<number, number>()
  readonly #timers = new Set<NodeJS.Timeout>()
  #closed = false

  constructor (hooks: Config['webhooks'], deps: { metrics: Metrics, log: Logger }, options: WebhookOptions = {}) {
    this.#hooks = hooks
    this.#metrics = deps.metrics
    this.#log = deps.log
    this.#options = { retryDelaysMs: options.retryDelaysMs ?? DEFAULT_DELAYS, timeoutMs: options.timeoutMs ?? 5_000, queueLimit: options.queueLimit ?? 1_000, now: options.now ?? Date.now, random: options.random ?? Math.random }
    this.#dispatcher = new Agent({ connect: { lookup: guardedLookup(options.lookup) } })
  }

  /** Queues an outage event for every receiver subscribed to its type. */
  emit (event: NewOutageEvent): void {
    const { id, ...rest } = event
    this.#enqueue({ id, at: new Date(this.#options.now()).toISOString(), ...rest })
  }

  /**
   * Queues a change to a person's backup login methods, seen by `instance`.
   * Only one pod makes a change, so its id is random rather than derived;
   * the fields are copied one by one so nothing else the event may carry is sent.
   */
  emitIdentity (event: IdentityEvent, instance: string): void {
    this.#enqueue({
      id: identityEventId(),
      type: event.type,
      at: new Date(this.#options.now()).toISOString(),
      instance,
      sub: event.sub,
      ...(event.provider === undefined ? {} : { provider: event.provider }),
      ...(event.passkey === undefined ? {} : { passkey: event.passkey }),
      actor: event.actor,
      message: identityMessage(event),
    })
  }

  /** Stops retrying; deliveries in flight finish on their own. */
  close (): void {
    this.#closed = true
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    this.#dispatcher.close().catch(() => {})
  }

  /** One delivery path for every event: a queue per receiver subscribed to its type. */
  #enqueue (full: WebhookEvent): void {
    if (this.#closed) return
    const body = JSON.stringify(full)
    this.#hooks.forEach((hook, index) => {
      if (!hook.events.includes(full.type)) return
      const pending = this.#pending.get(index) ?? 0
      if (pending >= this.#options.queueLimit) {
        this.#metrics.webhookDeliveries.inc({ event: full.type, outcome: 'dropped' })
        return
      }
      this.#pending.set(index, pending + 1)
      this.#deliver(index, full.type, body, 0)
    })
  }

  #deliver (index: number, type: WebhookEventType, body: string, attempt: number): void {
    const hook = this.#hooks[index]!
    const done = (outcome: 'delivered' | 'failed') => {
      this.#metrics.webhookDeliveries.inc({ event: type, outcome })
      this.#pending.set(index, (this.#pending.get(index) ?? 1) - 1)
    }
    this.#send(hook.url, [hook.secret, ...(hook.previousSecret ? [hook.previousSecret] : [])], body).then(() => done('delivered'), (err: unknown) => {
      const delay = this.#options.retryDelaysMs[attempt]
      if (delay === undefined || this.#closed) {
        this.#log.warn({ err, event: type, url: origin(hook.url), attempts: attempt + 1 }, 'webhook delivery failed for good')
        return done('failed')
      }
      this.#metrics.webhookDeliveries.inc({ event: type, outcome: 'retry' })
      const timer = setTimeout(() => {
        this.#timers.delete(timer)
        this.#deliver(index, type, body, attempt + 1)
      }, jittered(delay, this.#options.random))
      timer.unref()
      this.#timers.add(timer)
    })
  }

  async #send (url: string, secrets: string[], body: string): Promise<void> {
    const response = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'understudy-webhooks', 'understudy-signature': signWebhook(secrets, body, Math.floor(this.#options.now() / 1000)) },
      body,
      dispatcher: this.#dispatcher,
      signal: AbortSignal.timeout(this.#options.timeoutMs),
    })
    await response.body.dump()
    if (response.statusCode < 200 || response.statusCode >= 300) throw new Error(`receiver answered ${response.statusCode}`)
  }
}

/** A sentence for people reading the receiver's log: what changed and who changed it. */
function identityMessage (event: IdentityEvent): string {
  const by = event.actor === 'admin' ? 'by an administrator (admin API)' : 'by the user'
  switch (event.type) {
    case 'identity.passkey.added': return `a passkey was added ${by}`
    case 'identity.passkey.removed': return `a passkey was removed ${by}`
    case 'identity.linked': return `a ${event.provider ?? 'provider'} identity was linked ${by}`
    case 'identity.unlinked': return `the ${event.provider ?? 'provider'} identity was unlinked ${by}`
  }
}

/** The receiver's origin for logs (no path or query, which may carry a token); a URL that does not parse must not throw on the delivery path. */
function origin (url: string): string {
  try {
    return new URL(url).origin
  } catch {
    return 'an unparseable URL'
  }
}
