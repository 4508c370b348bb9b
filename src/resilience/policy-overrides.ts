import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { BreakerPolicySchema } from '../config/schema.js'
import type { BreakerPolicy } from '../config/resolve.js'
import type { Logger } from '../log.js'
import { parseDocument, type OnDocumentRejected } from '../store/documents.js'
import type { SharedDocuments } from '../store/store.js'
import { mergePolicyPatch } from './policy.js'
import type { BreakerRegistry } from './registry.js'

const DOCUMENT = 'breaker-policies'
const POLL_MS = 2_000

type Overrides = Record<string, { policy: BreakerPolicy, since: string }>

const OverridesSchema = Type.Record(Type.String(), Type.Unknown())
const OverrideSchema = Type.Object({ policy: BreakerPolicySchema, since: Type.String({ minLength: 1 }) }, { additionalProperties: false })

/**
 * Live breaker policy overrides, kept in the store's shared documents so that
 * a change made on one instance reaches every instance sharing the store
 * (each polls every two seconds) and survives restarts until it is reset.
 * With the memory store this is one instance's business only.
 */
export class PolicyOverrides {
  readonly #breakers: BreakerRegistry
  readonly #shared: SharedDocuments
  readonly #configured: (provider: string) => BreakerPolicy | undefined
  readonly #log: Logger
  readonly #onRejected: OnDocumentRejected
  readonly #timer: NodeJS.Timeout
  #applied = '{}'
  #rejected: string | undefined

  constructor (breakers: BreakerRegistry, shared: SharedDocuments, configured: (provider: string) => BreakerPolicy | undefined, deps: { log: Logger, onRejected: OnDocumentRejected }) {
    this.#breakers = breakers
    this.#shared = shared
    this.#configured = configured
    this.#log = deps.log
    this.#onRejected = deps.onRejected
    this.#timer = setInterval(() => { void this.sync() }, POLL_MS)
    this.#timer.unref()
  }

  /**
   * Overrides `provider/region`'s policy everywhere; returns the policy it replaced, and whether the
   * change reached the shared store (false: the store did not answer; this instance holds the change
   * and writes it back when the store returns, unless it was changed through another instance meanwhile).
   */
  async set (provider: string, region: string, policy: BreakerPolicy): Promise<{ old: BreakerPolicy, shared: boolean }> {
    const breaker = this.#breakers.get(provider, region)!
    const since = new Date().toISOString()
    const old = breaker.setPolicy(policy, { kind: 'override', since })
    const shared = await this.#update((overrides) => { overrides[key(provider, region)] = { policy, since } })
    return { old, shared }
  }

  /** Returns `provider/region` to the config's policy everywhere; as `set` for what it returns. */
  async reset (provider: string, region: string): Promise<{ old: BreakerPolicy, shared: boolean }> {
    const breaker = this.#breakers.get(provider, region)!
    const old = breaker.setPolicy(this.#configured(provider)!, { kind: 'config' })
    const shared = await this.#update((overrides) => { delete overrides[key(provider, region)] })
    return { old, shared }
  }

  /** Applies the shared overrides to this instance's breakers (at start, then every poll); never rejects. */
  async sync (): Promise<void> {
    try {
      await this.#sync()
    } catch (err) {
      this.#log.error({ err }, 'could not apply the shared breaker policy overrides; keeping the current ones')
    }
  }

  async #sync (): Promise<void> {
    const text = await this.#shared.get(DOCUMENT)
    // A reset writes the document without the entry, never deletes it: a missing one is news of nothing
    // (none set yet, or the store is down and this instance holds no copy), so the last known policies stay.
    if (text === undefined || text === this.#applied) return
    this.#applied = text
    const overrides = this.#parse(text)
    for (const breaker of this.#breakers.all()) {
      const override = overrides[key(breaker.provider, breaker.region)]
      const source = breaker.policySource
      if (override && (source.kind !== 'override' || source.since !== override.since)) {
        breaker.setPolicy(override.policy, { kind: 'override', since: override.since })
        this.#log.info({ provider: breaker.provider, region: breaker.region, policy: override.policy }, 'breaker policy override applied from the shared store')
      } else if (!override && source.kind === 'override') {
        breaker.setPolicy(this.#configured(breaker.provider)!, { kind: 'config' })
        this.#log.info({ provider: breaker.provider, region: breaker.region }, 'breaker policy override removed in the shared store')
      }
    }
  }

  /** Stops polling. */
  close (): void {
    clearInterval(this.#timer)
  }

  async #update (change: (overrides: Overrides) => void): Promise<boolean> {
    const overrides = this.#parse(await this.#shared.get(DOCUMENT) ?? '{}')
    change(overrides)
    const text = JSON.stringify(overrides)
    const shared = await this.#shared.set(DOCUMENT, text)
    this.#applied = text
    return shared
  }

  /**
   * The overrides in the shared document, each checked as a PATCH is (schema
   * and bounds); a bad entry, or a bad document, is reported and left out, so
   * the config's policy applies there.
   */
  #parse (text: string): Overrides {
    const rejections: Array<{ key: string, problem: string }> = []
    const parsed = parseDocument(OverridesSchema, text)
    const overrides: Overrides = {}
    if (!parsed.ok) rejections.push({ key: DOCUMENT, problem: parsed.problem })
    for (const [name, entry] of Object.entries(parsed.ok ? parsed.value : {})) {
      const checked = checkOverride(entry)
      if (checked.ok) overrides[name] = checked.override
      else rejections.push({ key: `${DOCUMENT}/${name}`, problem: checked.problem })
    }
    // Read again whenever the store comes back from a blip: the same bad document is reported once.
    if (rejections.length > 0 && text !== this.#rejected) {
      this.#rejected = text
      for (const rejection of rejections) this.#onRejected({ kind: 'breaker-policies', ...rejection })
    }
    return overrides
  }
}

function checkOverride (entry: unknown): { ok: true, override: Overrides[string] } | { ok: false, problem: string } {
  const error = Value.Errors(OverrideSchema, entry).First()
  if (error !== undefined) return { ok: false, problem: `${error.path}: ${error.message}` }
  const { policy, since } = entry as Static<typeof OverrideSchema>
  // Every field is present, so the merge base is fully replaced: it only gives the PATCH checks something to merge into.
  const merged = mergePolicyPatch(policy as BreakerPolicy, policy)
  return merged.ok ? { ok: true, override: { policy: merged.policy, since } } : { ok: false, problem: merged.problems.map((p) => `${p.path}: ${p.message}`).join('; ') }
}

function key (provider: string, region: string): string {
  return `${provider}/${region}`
}
