// The gateway's config in the bench: the shipped defaults, except where this file says why.
import { validateConfig } from '../src/config/load.js'
import { CACHED, SHOP, SHOP_OPAQUE, type BenchClient } from './flows.js'
import { ADMIN_TOKEN, SEALING_JWKS, SIGNING_JWKS } from './options.js'

/** Where one gateway of the bench lives: its ports, the upstream, and its store. */
export interface GatewaySite {
  port: number
  idp: { issuer: string, regions: Array<{ name: string, url: string }> }
  /** A redis:// URL for `store.kind: redis`; absent, the default in-memory store. */
  redisUrl?: string
  /** The gateway runs under valgrind (--callgrind), some 50 times slower than on its own. */
  underValgrind?: boolean
}

/** One way the bench's config differs from what the schema's defaults give, and why. */
export interface Deviation { path: string, bench: unknown, default: unknown, why: string }

/**
 * Every difference from the defaults has its reason here (matched on the
 * JSON-pointer path of the loaded config). A difference without one stops the
 * bench: the table it prints must name every way it does not run as shipped.
 */
const REASONS: Array<[RegExp, string]> = [
  [/^\/listen\/host$/, 'site: loopback only, the load comes from this machine'],
  [/^\/listen\/port$/, 'site: a free port, named by the issuer'],
  [/^\/admin\/port$/, 'site: 0, a free port (read from the listening line)'],
  [/^\/admin\/token$/, 'site: the bench reads GET /admin/breakers to know when every breaker is open'],
  [/^\/providers\/0\/scopes$/, 'site: the upstream is asked for profile and email, as the relying parties ask the gateway'],
  [/^\/providers\/0\/breaker\/timeout$/, '--callgrind only: 60s, since under valgrind the gateway itself takes seconds to handle the upstream\'s answers, and 2 s deadlines opened the breakers'],
  [/^\/providers\/0\/breaker\/resetTimeout$/, 'outage rows: 10m, the longest a policy may have, keeps the blackholed upstream\'s breakers open (no half-open trial) while cached logins are measured'],
  [/^\/clients\/1\/freshness\/maxStaleness$/, 'outage rows: the `outage` client\'s logins are cached logins once the session is 1 s old'],
  [/^\/clients\/2\/accessTokenFormat$/, 'the `shop-opaque` client: opaque access tokens, compared like for like with the peer\'s opaque ones'],
  [/^\/rateLimits\/authorize\/max$/, 'every simulated user comes from 127.0.0.1 (a site behind one NAT): the users\' logins and the full-flow row start ~100 upstream transactions/s there, over the default 300 per 10 s. SSO and cached logins are never charged and /token charges only failed authentications, so the SSO rows run the limiter as shipped (a counter read per token request)'],
  [/^\/store\/kind$/, 'Redis row: the store of every multi-instance deployment'],
  [/^\/store\/redis\/url$/, 'Redis row: a redis-server the bench starts (on the load driver\'s CPU)'],
]

/** The clients, in the order REASONS names them by index. */
const CLIENTS: Array<{ client: BenchClient, extra: object }> = [
  { client: SHOP, extra: {} },
  { client: CACHED, extra: { freshness: { maxStaleness: 1 } } },
  { client: SHOP_OPAQUE, extra: { accessTokenFormat: 'opaque' } },
]

/** The gateway's config file (as the CLI reads it): one upstream with two regions behind the fault proxies, the three bench clients. */
export function gatewayConfig (site: GatewaySite): Record<string, unknown> {
  return {
    issuer: `http://127.0.0.1:${site.port}`,
    listen: { host: '127.0.0.1', port: site.port },
    admin: { port: 0, token: ADMIN_TOKEN },
    keys: { signing: SIGNING_JWKS, sealing: SEALING_JWKS },
    ...(site.redisUrl === undefined ? {} : { store: { kind: 'redis', redis: { url: site.redisUrl } } }),
    providers: [{
      id: 'idp',
      kind: 'oidc',
      issuer: site.idp.issuer,
      clientId: 'understudy',
      clientSecret: 'upstream-secret',
      scopes: ['openid', 'profile', 'email'],
      regions: site.idp.regions,
      breaker: { resetTimeout: '10m', ...(site.underValgrind ? { timeout: '60s' } : {}) },
    }],
    clients: CLIENTS.map(({ client, extra }) => ({ clientId: client.clientId, clientSecret: client.clientSecret, redirectUris: [client.redirectUri], providers: ['idp'], ...extra })),
    rateLimits: { authorize: { max: 1_000_000_000 } },
  }
}

/**
 * Every way `config` differs from the defaults, each with its reason: the
 * loaded config against the one loaded from only what a config must name
 * (issuer, keys, the upstream's identity, the clients' identities).
 */
export function deviations (config: Record<string, unknown>): Deviation[] {
  const load = (raw: object) => validateConfig(raw, { source: 'bench config', env: {} }) as unknown
  const found: Deviation[] = []
  diff(load(config), load(essentials(config)), '', (path, bench, dflt) => {
    const why = REASONS.find(([pattern]) => pattern.test(path))?.[1]
    if (why === undefined) throw new Error(`the bench's gateway config differs from the defaults at ${path} (${JSON.stringify(bench)} for ${JSON.stringify(dflt)}) without a reason in bench/config.ts`)
    found.push({ path, bench, default: dflt, why })
  })
  return found
}

/** What any config must name, and nothing else. */
function essentials (config: Record<string, unknown>): object {
  const pick = (from: Record<string, unknown>, keys: string[]) => Object.fromEntries(keys.filter((k) => k in from).map((k) => [k, from[k]]))
  return {
    issuer: config.issuer,
    keys: config.keys,
    providers: (config.providers as Array<Record<string, unknown>>).map((p) => pick(p, ['id', 'kind', 'issuer', 'clientId', 'clientSecret', 'regions'])),
    clients: (config.clients as Array<Record<string, unknown>>).map((c) => pick(c, ['clientId', 'clientSecret', 'redirectUris', 'providers'])),
  }
}

/** Calls `found` for each leaf where `a` and `b` differ (a whole subtree when one side lacks it; a list of scalars is one leaf). */
function diff (a: unknown, b: unknown, path: string, found: (path: string, a: unknown, b: unknown) => void): void {
  const isTree = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !(Array.isArray(v) && v.some((item) => typeof item !== 'object'))
  if (isTree(a) && isTree(b) && Array.isArray(a) === Array.isArray(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) diff(a[key], b[key], `${path}/${key}`, found)
    return
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) found(path, a, b)
}
