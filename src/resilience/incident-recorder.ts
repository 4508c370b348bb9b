import type { Logger } from '../log.js'
import type { LoginOutcome } from '../observability/metrics.js'
import { deriveIncidents, type EventLog, type ImpactCounts, type Incident, type NewIncidentEvent } from './incidents.js'

const IMPACT_FLUSH_MS = 2_000
const READ_LIMIT = 5_000

/**
 * Records what this instance sees into the event log. Logins served cached,
 * by a backup method (passkey, linked provider) or refused are counted and
 * flushed as one `impact` event every two seconds, so an outage at full
 * traffic writes a handful of events, not one per login.
 */
export class IncidentRecorder {
  readonly #log: EventLog
  readonly #instance: string
  readonly #logger: Logger
  readonly #regionsOf: (provider: string) => string[]
  readonly #troubled: (provider: string) => boolean
  #pending = new Map<string, Map<string, Required<ImpactCounts>>>()
  readonly #timer: NodeJS.Timeout

  /**
   * `troubled` says whether some region of a provider is not closed here: a
   * backup login counts only then, since with passkeyWhenHealthy they happen
   * every day, and events outside an incident would only push older ones out of the log.
   */
  constructor (log: EventLog, options: { instance: string, logger: Logger, regionsOf: (provider: string) => string[], troubled?: (provider: string) => boolean }) {
    this.#log = log
    this.#instance = options.instance
    this.#logger = options.logger
    this.#regionsOf = options.regionsOf
    this.#troubled = options.troubled ?? (() => true)
    this.#timer = setInterval(() => { this.flush().catch(() => {}) }, IMPACT_FLUSH_MS)
    this.#timer.unref()
  }

  /** Appends an event stamped with now and this instance; never throws (the timeline is best effort). */
  async record (event: NewIncidentEvent): Promise<void> {
    try {
      await this.#log.append({ at: new Date().toISOString(), instance: this.#instance, ...event })
    } catch (err) {
      this.#logger.warn({ err }, 'could not record an incident event')
    }
  }

  /** Counts a login that an outage touched. */
  onLogin (client: string, provider: string, outcome: LoginOutcome): void {
    if (outcome !== 'cached' && outcome !== 'unavailable' && !(outcome === 'backup' && this.#troubled(provider))) return
    let byClient = this.#pending.get(provider)
    if (!byClient) this.#pending.set(provider, (byClient = new Map()))
    const counts = byClient.get(client) ?? { cached: 0, unavailable: 0, backup: 0 }
    counts[outcome]++
    byClient.set(client, counts)
  }

  /** Writes the counted impact as events. */
  async flush (): Promise<void> {
    const pending = this.#pending
    this.#pending = new Map()
    for (const [provider, byClient] of pending) {
      const data = Object.fromEntries(byClient)
      const total = [...byClient.values()].reduce((n, c) => n + c.cached + c.unavailable + c.backup, 0)
      await this.record({ kind: 'impact', provider, message: `${total} logins served cached, by a backup method or refused`, data })
    }
  }

  /** Incidents, newest first, as derived from the shared event log. */
  async incidents (): Promise<Incident[]> {
    await this.flush()
    return deriveIncidents(await this.#log.read(READ_LIMIT), this.#regionsOf)
  }

  /** Stops the flush timer after a last flush. */
  async close (): Promise<void> {
    clearInterval(this.#timer)
    await this.flush()
  }
}
