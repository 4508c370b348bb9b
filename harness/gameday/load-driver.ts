import { cookieNames } from '../../src/sessions/session.js'
import { SoftwareAuthenticator } from '../software-authenticator.js'
import { addPasskey, passkeyLogin, type OfferChoice } from './backup-flows.js'
import type { RecordingBrowser } from './recording-browser.js'
import type { FlowContext, FlowResult } from './flow-steps.js'
import { firstLogin, logout, refresh, revokeRefreshToken, ssoLogin } from './flows.js'
import type { OpKind, Recorder } from './records.js'
import { RELYING_PARTIES, relyingParty, type LoadShape, type RelyingParty } from './setup.js'
import { UserPool, pick, type RevokedCredential, type SyntheticUser } from './users.js'

const POOL_LIMIT = 400
const PROBE_EVERY_MS = 500
/** Seed and cohort logins run this many at a time. */
const BATCH = 4

/** A user who added a passkey before the faults: who they are to the relying parties, and their (synced) passkey. */
export interface EnrolledUser { name: string, sub: string, authenticator: SoftwareAuthenticator }

export interface LoadDriverDeps {
  ctx: FlowContext
  shape: LoadShape
  newBrowser: () => RecordingBrowser
  recorder: Recorder
}

/**
 * Steady synthetic load: at a fixed rate, with at most `concurrency`
 * operations in flight, new users log in for the first time and returning
 * users log in by SSO or refresh. Every operation's outcome is recorded.
 * Revoked refresh tokens and logged-out sessions are kept and tried again
 * and again: any of them that works is a revoked session accepted.
 */
export class LoadDriver {
  readonly pool = new UserPool(POOL_LIMIT)
  readonly revoked: RevokedCredential[] = []
  readonly cohort: EnrolledUser[] = []
  readonly #deps: LoadDriverDeps
  readonly #inFlight = new Set<Promise<void>>()
  #timers: NodeJS.Timeout[] = []
  #seq = 0
  #probeTurn = 0

  constructor (deps: LoadDriverDeps) {
    this.#deps = deps
  }

  /** Logs `count` users in (first login at one site, SSO at the others); throws if the stack cannot. */
  async seed (count: number): Promise<void> {
    await inBatches(count, async () => {
      const rps = [...RELYING_PARTIES].sort(() => Math.random() - 0.5)
      const user = await this.#newUser(rps[0]!)
      if (!user) throw new Error('a seed login failed: the stack is not healthy before the game day starts')
      // Right after the first login every site's maxStaleness is met, so SSO gives each site a grant.
      for (const rp of rps.slice(1)) await this.#sso(user, rp)
    })
  }

  /**
   * `count` new users log in through the upstream and add a passkey on the
   * offer page (then become returning users like any other); throws if one
   * cannot, as backup login must work before the faults.
   */
  async enrolCohort (count: number): Promise<void> {
    const { issuer } = this.#deps.ctx
    await inBatches(count, async () => {
      // A synced passkey (as in a platform password manager): a new device of the user holds it too.
      const authenticator = SoftwareAuthenticator.create(new URL(issuer).hostname, issuer, { synced: true })
      const user = await this.#newUser(pick(RELYING_PARTIES), addPasskey(authenticator))
      if (!user || authenticator.credentials.length !== 1) throw new Error(`a user could not add a passkey after logging in${user ? ' (no offer page)' : ''}: backup login does not work before the game day starts`)
      this.cohort.push({ name: user.name, sub: user.sub, authenticator })
    })
  }

  /** Every user of the cohort logs in on a new device (an empty cookie jar) with the passkey, at a random site; each a `passkey` operation. */
  async logInCohort (): Promise<void> {
    const users = [...this.cohort]
    await inBatches(users.length, async () => {
      const user = users.shift()!
      const rp = pick(RELYING_PARTIES)
      await this.#timed('passkey', rp, user.name, () => passkeyLogin(this.#deps.ctx, this.#deps.newBrowser(), rp, user.authenticator, user.sub))
    })
  }

  /** Starts the steady load and the revoked-credential probes. */
  start (): void {
    const everyMs = 1000 / this.#deps.shape.rate
    this.#timers = [
      setInterval(() => this.#tick(), everyMs),
      setInterval(() => this.#launch(() => this.#probe()), PROBE_EVERY_MS),
    ]
  }

  /** Stops starting operations and waits for those in flight. */
  async stop (): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer)
    this.#timers = []
    await Promise.allSettled([...this.#inFlight])
  }

  /** Revokes one user's refresh token and logs another out (both through the gateway); returns what was done. */
  async revokeSome (): Promise<string[]> {
    const done: string[] = []
    const a = this.pool.pickIdle((u) => u.grants.size > 0)
    if (a) {
      this.pool.remove(a)
      const [client, grant] = pick([...a.grants])
      const rp = relyingParty(client)
      const result = await revokeRefreshToken(this.#deps.ctx, a.browser, rp, grant.refreshToken)
      if (result.outcome === 'ok') {
        this.revoked.push({ kind: 'revoked-refresh', user: a.name, rp, refreshToken: grant.refreshToken, sub: a.sub })
        done.push(`revoked ${a.name}'s refresh token at ${client}`)
      }
    }
    const b = this.pool.pickIdle((u) => u.grants.size > 0)
    if (b) {
      this.pool.remove(b)
      const cookie = b.browser.cookie(this.#deps.ctx.issuer, cookieNames(this.#deps.ctx.issuer).session)
      const [client, grant] = pick([...b.grants])
      const rp = relyingParty(client)
      const result = await logout(this.#deps.ctx, b.browser, rp, grant.idToken)
      if (result.outcome === 'ok') {
        if (cookie) this.revoked.push({ kind: 'logged-out-session', user: b.name, cookie })
        for (const [c, g] of b.grants) this.revoked.push({ kind: 'logged-out-refresh', user: b.name, rp: relyingParty(c), refreshToken: g.refreshToken, sub: b.sub })
        done.push(`logged ${b.name} out (session and ${b.grants.size} refresh tokens)`)
      }
    }
    return done
  }

  #tick (): void {
    if (this.#inFlight.size >= this.#deps.shape.concurrency) {
      this.#deps.recorder.skipped.push(Date.now())
      return
    }
    if (Math.random() < this.#deps.shape.newUserShare) {
      this.#launch(async () => { await this.#newUser(pick(RELYING_PARTIES)) })
      return
    }
    const sso = Math.random() < 0.5
    const user = this.pool.pickIdle((u) => sso || u.grants.size > 0)
    if (!user) return
    if (sso) {
      this.#launch(() => this.#sso(user, pick(RELYING_PARTIES.filter((rp) => rp.sso))))
    } else {
      const client = pick([...user.grants.keys()])
      this.#launch(() => this.#refresh(user, relyingParty(client)))
    }
  }

  #launch (work: () => Promise<void>): void {
    const running = work().catch(() => {}).finally(() => this.#inFlight.delete(running))
    this.#inFlight.add(running)
  }

  async #newUser (rp: RelyingParty, offer?: OfferChoice): Promise<SyntheticUser | undefined> {
    const name = `user-${++this.#seq}`
    const browser = this.#deps.newBrowser()
    const result = await this.#timed('new', rp, name, () => firstLogin(this.#deps.ctx, browser, rp, name, offer))
    if (result.outcome !== 'ok') return undefined
    const user: SyntheticUser = { name, browser, sub: result.sub!, grants: new Map([[rp.clientId, { refreshToken: result.refreshToken!, idToken: result.idToken! }]]), busy: false }
    this.pool.add(user)
    return user
  }

  async #sso (user: SyntheticUser, rp: RelyingParty): Promise<void> {
    await this.#asUser(user, 'sso', rp, () => ssoLogin(this.#deps.ctx, user.browser, rp, user.sub))
  }

  async #refresh (user: SyntheticUser, rp: RelyingParty): Promise<void> {
    const grant = user.grants.get(rp.clientId)!
    await this.#asUser(user, 'refresh', rp, () => refresh(this.#deps.ctx, user.browser, rp, grant.refreshToken, user.sub))
  }

  /** Runs one operation of a returning user; a lost session takes the user out of the pool. */
  async #asUser (user: SyntheticUser, kind: OpKind, rp: RelyingParty, flow: () => Promise<FlowResult>): Promise<void> {
    user.busy = true
    try {
      const result = await this.#timed(kind, rp, user.name, flow)
      if (result.outcome === 'ok') user.grants.set(rp.clientId, { refreshToken: result.refreshToken!, idToken: result.idToken! })
      // A refresh whose answer died with a process leaves the relying party's token in doubt: the user logs in again.
      if (result.outcome === 'session_lost' || (result.outcome !== 'ok' && result.caughtInCrash)) this.pool.remove(user)
    } finally {
      user.busy = false
    }
  }

  async #timed (kind: OpKind, rp: RelyingParty, user: string, flow: () => Promise<FlowResult>): Promise<FlowResult> {
    const start = Date.now()
    const result = await flow()
    const { outcome, acr, backend, upstreamRegion, caughtInCrash, detail } = result
    this.#deps.recorder.op({ kind, client: rp.clientId, user, start, end: Date.now(), outcome, ...(acr ? { acr } : {}), ...(backend ? { backend } : {}), ...(upstreamRegion ? { upstreamRegion } : {}), ...(caughtInCrash ? { caughtInCrash } : {}), ...(detail ? { detail } : {}) })
    return result
  }

  /** Tries one revoked credential (round robin); it must not work. */
  async #probe (): Promise<void> {
    if (this.revoked.length === 0) return
    const credential = this.revoked[this.#probeTurn++ % this.revoked.length]!
    const browser = this.#deps.newBrowser()
    let result: FlowResult
    if (credential.kind === 'logged-out-session') {
      browser.setCookie(this.#deps.ctx.issuer, cookieNames(this.#deps.ctx.issuer).session, credential.cookie)
      result = await ssoLogin(this.#deps.ctx, browser, pick(RELYING_PARTIES.filter((rp) => rp.sso)), '')
    } else {
      result = await refresh(this.#deps.ctx, browser, credential.rp, credential.refreshToken, credential.sub)
    }
    // An SSO answer with a code and tokens (whatever the subject) means the session was honoured.
    const accepted = result.outcome === 'ok' || result.outcome === 'wrong_user'
    this.#deps.recorder.probe({ at: Date.now(), kind: credential.kind, user: credential.user, accepted, outcome: result.outcome })
  }
}

/** Runs `count` calls of `work`, BATCH at a time; throws the first failure. */
async function inBatches (count: number, work: () => Promise<void>): Promise<void> {
  for (let i = 0; i < count; i += BATCH) await Promise.all(Array.from({ length: Math.min(BATCH, count - i) }, work))
}
