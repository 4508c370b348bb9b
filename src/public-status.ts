import type { Gateway } from './gateway.js'
import { healthReport, publicHealth, type PublicHealthReport } from './health.js'
import type { Lifecycle } from './lifecycle.js'
import { statusDocument, type StatusDocument } from './status.js'

/** How old a public answer may be: a flood of status requests costs one build a second. */
export const SNAPSHOT_MAX_AGE_MS = 1_000

/**
 * `/healthz`, `/status` and `/status.json` are public, and each build pings
 * the store and its peers or reads the incident log: each is answered from a
 * snapshot rebuilt at most once per `maxAgeMs`, every caller in between (and
 * every caller while a build is in flight) sharing it. A build that fails is
 * not kept, so the next caller tries again.
 */
export class PublicStatus {
  readonly #health: Snapshot<PublicHealthReport>
  readonly #status: Snapshot<StatusDocument>

  constructor (gw: Gateway, lifecycle: Lifecycle, options: { maxAgeMs?: number, now?: () => number } = {}) {
    const { maxAgeMs = SNAPSHOT_MAX_AGE_MS, now = Date.now } = options
    this.#health = new Snapshot(async () => publicHealth(await healthReport(gw, lifecycle)), maxAgeMs, now)
    this.#status = new Snapshot(async () => {
      const [health, incidents] = await Promise.all([this.#health.get(), gw.incidents.incidents()])
      return statusDocument(health, incidents, new Date(now()))
    }, maxAgeMs, now)
  }

  /** The public health report (DESIGN §6). */
  health (): Promise<PublicHealthReport> {
    return this.#health.get()
  }

  /** The public status document (DESIGN §9). */
  status (): Promise<StatusDocument> {
    return this.#status.get()
  }
}

class Snapshot<T> {
  readonly #build: () => Promise<T>
  readonly #maxAgeMs: number
  readonly #now: () => number
  #kept: { at: number, value: Promise<T> } | undefined

  constructor (build: () => Promise<T>, maxAgeMs: number, now: () => number) {
    this.#build = build
    this.#maxAgeMs = maxAgeMs
    this.#now = now
  }

  get (): Promise<T> {
    const now = this.#now()
    if (this.#kept === undefined || now - this.#kept.at >= this.#maxAgeMs) {
      const value = this.#build()
      const kept = { at: now, value }
      this.#kept = kept
      value.catch(() => { if (this.#kept === kept) this.#kept = undefined })
    }
    return this.#kept.value
  }
}
