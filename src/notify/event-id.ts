import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { Store } from '../store/store.js'

/** An outage change as its id sees it: the region's breaker (region.*), or the provider as a whole (provider.*). */
export interface OutageChange {
  type: 'region.open' | 'region.closed' | 'provider.degraded' | 'provider.recovered'
  provider: string
  region?: string
}

/** How long a subject's sequence is kept after its last change (seconds): far longer than any receiver remembers ids. */
const SEQUENCE_TTL_SEC = 400 * 86_400

/**
 * Ids of outage events: one id per change of a region (or a provider), the
 * same on every pod and every gateway region that sees it, whenever each
 * sees it. Each subject (`provider/region`, or `provider`) has a sequence of
 * changes in the store: odd while it is down (open, degraded), even while it
 * is up. A sighting the sequence already says is not news and takes the
 * current number; one that contradicts it moves the sequence one on. Pods
 * that see a change together read the same number and move it to the same
 * next one (the store keeps the later version, replicated to peers), so they
 * agree without a lock. The id hashes the subject, the type, the number and
 * the sequence's random anchor (so a sequence lost with its store never
 * repeats an old id). While no store answers, pods may disagree: a receiver
 * then gets the change twice under two ids, as at-least-once delivery allows.
 */
export class OutageEventIds {
  readonly #store: Pick<Store, 'latest' | 'keepLatest'>
  /** Per subject, the last id asked for: one pod's changes of one subject are numbered in the order they happened. */
  readonly #last = new Map<string, Promise<string>>()

  constructor (store: Pick<Store, 'latest' | 'keepLatest'>) {
    this.#store = store
  }

  /** The id of `change`; never rejects (the store does not). */
  async idOf (change: OutageChange): Promise<string> {
    const subject = change.region === undefined ? change.provider : `${change.provider}/${change.region}`
    const previous = this.#last.get(subject)
    const id = (previous ?? Promise.resolve('')).then(async () => this.#number(subject, change.type))
    this.#last.set(subject, id)
    try {
      return await id
    } finally {
      if (this.#last.get(subject) === id) this.#last.delete(subject)
    }
  }

  async #number (subject: string, type: OutageChange['type']): Promise<string> {
    const key = `outage-events:${subject}`
    const down = type === 'region.open' || type === 'provider.degraded'
    const kept = await this.#store.latest(key)
    const anchor = kept?.value ?? randomUUID()
    let sequence = kept?.version ?? 0
    if ((sequence % 2 === 1) !== down) {
      sequence++
      await this.#store.keepLatest(key, anchor, sequence, SEQUENCE_TTL_SEC)
    }
    return createHash('sha256').update(JSON.stringify([anchor, subject, type, sequence])).digest('base64url').slice(0, 22)
  }
}

/** The id of a change to a person's backup login methods: one pod makes each change, so a random id is its own. */
export function identityEventId (): string {
  return randomBytes(16).toString('base64url')
}
