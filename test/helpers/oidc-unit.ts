import { validateConfig } from '../../src/config/load.js'
import { UnderstudyError } from '../../src/errors.js'
import { loadKeyring, type Keyring } from '../../src/keys/keyring.js'
import { Metrics, type LoginOutcome } from '../../src/observability/metrics.js'
import { ClientRegistry } from '../../src/oidc/clients.js'
import type { ProviderRouter } from '../../src/oidc/deps.js'
import { sealSession } from '../../src/oidc/session-cookie.js'
import { randomId } from '../../src/sessions/random.js'
import { cookieNames, subjectFor, type Session } from '../../src/sessions/session.js'
import { MemoryStore } from '../../src/store/memory.js'
import type { UpstreamAuthorization, UpstreamCodeExchange, UpstreamIdentity } from '../../src/upstream/connector.js'
import type { EndpointDeps } from '../../plugins/oidc/deps.js'
import { DEV_KEYS } from './stack.js'

// The unit layer: each endpoint's core function with only what it uses, built
// here from real parts (the dev keys, the in-process store, the config
// loader) and a clock that moves only when a test says so. The one stand-in
// is the provider's router, where the test is about what the gateway decides
// when the upstream answers, refuses or is down.

export const ISSUER = 'http://localhost:8080'
export const PROVIDER = 'idp'
export const SHOP = { clientId: 'shop', redirectUri: 'https://shop.test/cb' }
export const SPA = { clientId: 'spa', redirectUri: 'https://spa.test/cb' }
/** The clients' freshness policy: SSO within an hour, a cached login within a day. */
export const MAX_STALENESS = 3600
export const OUTAGE_MAX_STALENESS = 86_400
/** The regions' reset timeouts (seconds): Retry-After is the soonest, rounded up. */
export const RESET_TIMEOUTS = [30, 12.5]
const START = 1_750_000_000

/** A clock in whole seconds that stands still until the test moves it. */
export class FakeClock {
  #now = START
  readonly now = (): number => this.#now
  advance (seconds: number): void { this.#now += seconds }
}

export const transient = (): UnderstudyError => new UnderstudyError('US_ERR_UPSTREAM_TIMEOUT', 'the upstream call timed out')
export const fatal = (): UnderstudyError => new UnderstudyError('US_ERR_UPSTREAM_OAUTH', 'the upstream answered invalid_grant')

/**
 * One provider's router as the decisions see it: `up` is whether any region's
 * breaker lets a call through; each call that leaves does what the test sets, and is recorded.
 */
export class FakeRouter implements ProviderRouter {
  readonly id = PROVIDER
  readonly lanes = RESET_TIMEOUTS.map((resetTimeout) => ({ breaker: { policy: { resetTimeout } } }))
  up = true
  onAuthorize = async (request: UpstreamAuthorization): Promise<{ region: string, url: string }> => ({ region: 'primary', url: `https://idp.test/authorize?state=${request.state}` })
  onExchange = async (_exchange: Omit<UpstreamCodeExchange, 'signal'>): Promise<UpstreamIdentity> => ({ sub: 'alice', claims: { email: 'alice@example.test' }, refreshToken: 'upstream-rt-1' })
  onRefresh = async (_refreshToken: string, expectedSub: string): Promise<UpstreamIdentity> => ({ sub: expectedSub, claims: { name: 'Alice' } })
  readonly calls = { authorize: [] as UpstreamAuthorization[], exchange: [] as Array<Omit<UpstreamCodeExchange, 'signal'> & { region: string }>, refresh: [] as string[] }

  available (): boolean { return this.up }
  async authorizationUrl (request: UpstreamAuthorization): Promise<{ region: string, url: string }> {
    return this.#through(() => {
      this.calls.authorize.push(request)
      return this.onAuthorize(request)
    })
  }

  async exchangeCode (region: string, exchange: Omit<UpstreamCodeExchange, 'signal'>): Promise<UpstreamIdentity> {
    return this.#through(() => {
      this.calls.exchange.push({ ...exchange, region })
      return this.onExchange(exchange)
    })
  }

  async refresh (refreshToken: string, expectedSub: string): Promise<UpstreamIdentity> {
    return this.#through(() => {
      this.calls.refresh.push(refreshToken)
      return this.onRefresh(refreshToken, expectedSub)
    })
  }

  /** As the real router: with every breaker open no call leaves, and that is an outage. */
  async #through<T> (call: () => Promise<T>): Promise<T> {
    if (!this.up) throw new UnderstudyError('US_ERR_UPSTREAM_UNAVAILABLE', 'every region\'s breaker is open')
    return call()
  }
}

export interface Unit {
  deps: EndpointDeps
  clock: FakeClock
  router: FakeRouter
  store: MemoryStore
  metrics: Metrics
  /** Every login outcome counted, as `client provider outcome`, and a backup login's method after it. */
  logins: string[]
  /** A session of `alice` at the provider, the upstream having vouched `vouchedAgo` seconds ago. */
  session (options?: { vouchedAgo?: number, authAgo?: number, sub?: string, upstreamRefreshToken?: string }): Session
  /** The sealed cookie of a session. */
  cookie (session: Session): Promise<string>
}

let keys: Promise<Keyring> | undefined

/** The endpoints' dependencies from real keys, the memory store, the config loader's defaults, a fake clock and a fake router. */
export async function unit (): Promise<Unit> {
  keys ??= loadKeyring(DEV_KEYS)
  const config = validateConfig({
    issuer: ISSUER,
    region: 'test',
    listen: { host: '127.0.0.1', port: 0 },
    keys: DEV_KEYS,
    providers: [{ id: PROVIDER, kind: 'oidc', issuer: 'https://idp.test', clientId: 'understudy', clientSecret: 'upstream-secret', regions: [{ name: 'primary', url: 'https://idp.test' }, { name: 'secondary', url: 'https://idp-dr.test' }] }],
    clients: [
      { clientId: SHOP.clientId, clientSecret: 'shop-secret', redirectUris: [SHOP.redirectUri], providers: [PROVIDER], freshness: { maxStaleness: MAX_STALENESS, outageMaxStaleness: OUTAGE_MAX_STALENESS } },
      { clientId: SPA.clientId, redirectUris: [SPA.redirectUri], providers: [PROVIDER], freshness: { maxStaleness: MAX_STALENESS, outageMaxStaleness: OUTAGE_MAX_STALENESS }, idTokenSignedResponseAlg: 'RS256' },
    ],
  }, { env: {} })
  const clock = new FakeClock()
  const router = new FakeRouter()
  const store = new MemoryStore({ now: () => clock.now() * 1000 })
  const metrics = new Metrics({ defaults: false })
  const logins: string[] = []
  const deps: EndpointDeps = {
    issuer: config.issuer,
    keys: await keys,
    now: clock.now,
    store,
    clients: new ClientRegistry(config.clients),
    upstreams: new Map([[PROVIDER, router]]),
    providers: config.providers,
    tokens: config.tokens,
    cookies: cookieNames(config.issuer),
    sessionLifetime: OUTAGE_MAX_STALENESS,
    metrics,
    recordLogin: (client: string, provider: string, outcome: LoginOutcome, method?: string) => { logins.push([client, provider, outcome, ...(method === undefined ? [] : [method])].join(' ')) },
  }
  return {
    deps,
    clock,
    router,
    store,
    metrics,
    logins,
    session ({ vouchedAgo = 0, authAgo = vouchedAgo, sub = 'alice', upstreamRefreshToken } = {}) {
      return {
        sid: randomId(),
        sub: subjectFor(PROVIDER, sub),
        upstreamSub: sub,
        provider: PROVIDER,
        claims: { email: `${sub}@example.test` },
        authTime: clock.now() - authAgo,
        vouchedAt: clock.now() - vouchedAgo,
        ...(upstreamRefreshToken === undefined ? {} : { upstreamRefreshToken }),
      }
    },
    async cookie (session) {
      return (await sealSession(deps, session)).value
    },
  }
}
