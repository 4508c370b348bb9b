import { isAbsolute, resolve } from 'node:path'
import { refusedReceiverHost } from '../notify/receiver-address.js'
import { PROTOCOL_PARAMETERS } from '../upstream/authorization-url.js'
import { parseDuration } from './duration.js'
import type { RawBreakerPolicy, RawClient, RawConfig, RawProvider } from './schema.js'

/** A breaker policy with every duration in seconds. */
export interface BreakerPolicy {
  timeout: number
  errorThresholdPercentage: number
  volumeThreshold: number
  resetTimeout: number
  rollingCountTimeout: number
}

export interface Freshness { maxStaleness: number, outageMaxStaleness: number }

export interface RegionConfig {
  name: string
  url?: string
  authorizationEndpoint?: string
  tokenEndpoint?: string
  userinfoEndpoint?: string
}

export interface ProviderConfig extends Omit<RawProvider, 'breaker' | 'healthCheck' | 'regions' | 'scopes' | 'pkce' | 'reauthenticate'> {
  regions: RegionConfig[]
  scopes: string[]
  pkce: boolean
  reauthenticate: Record<string, string>
  breaker: BreakerPolicy
  healthCheck: { interval: number, url?: string }
}

export interface ClientConfig extends Omit<RawClient, 'freshness' | 'postLogoutRedirectUris' | 'idTokenSignedResponseAlg'> {
  postLogoutRedirectUris: string[]
  freshness: Freshness
  idTokenSignedResponseAlg: 'ES256' | 'RS256' | 'EdDSA'
}

export interface TokenLifetimes { idToken: number, accessToken: number, refreshToken: number, degraded: number, code: number }

/** One rate limit: at most `max` requests per fixed `window` (seconds). */
export interface RateLimit { max: number, window: number }

/** The rate limits of each surface; `enabled: false` turns them all off. */
export interface RateLimits { enabled: boolean, token: RateLimit, authorize: RateLimit, admin: RateLimit }

/** Fastify's trustProxy: who may set X-Forwarded-For. */
export type TrustProxy = boolean | string | string[]

/** The validated config with defaults applied, durations in seconds and paths absolute. */
export interface Config {
  issuer: string
  region: string
  listen: { host: string, port: number, tls?: { cert: string, key: string } }
  admin: { host: string, port: number, token?: string }
  keys: { signing: string, sealing: string }
  store: NonNullable<RawConfig['store']> & { kind: 'memory' | 'redis' }
  providers: ProviderConfig[]
  clients: ClientConfig[]
  sessions: Freshness
  tokens: TokenLifetimes
  chaos: { enabled: boolean }
  webhooks: NonNullable<RawConfig['webhooks']>
  shutdown: { drainDelay: number }
  rateLimits: RateLimits
  trustProxy: TrustProxy
}

/** How the Redis store waits and fails, durations in milliseconds (DESIGN §8: every outbound call has a timeout). */
export interface RedisTuning {
  keyPrefix: string
  commandTimeoutMs: number
  connectTimeoutMs: number
  peerTimeoutMs: number
  peerQueueLimit: number
  /** How long revocation checks fail open before the outage is escalated (store.revocationFailOpen). */
  revocationFailOpenMs: number
}

export const DEFAULT_REDIS_TUNING: RedisTuning = { keyPrefix: 'understudy:', commandTimeoutMs: 500, connectTimeoutMs: 1_000, peerTimeoutMs: 250, peerQueueLimit: 10_000, revocationFailOpenMs: 300_000 }

/** The Redis store's tuning from `store`, with defaults for what is not set. */
export function redisTuning (store: Config['store']): RedisTuning {
  const r = store.redis ?? {}
  const ms = (value: number | string | undefined, fallback: number) => (value === undefined ? fallback : parseDuration(value) * 1000)
  return {
    keyPrefix: r.keyPrefix ?? DEFAULT_REDIS_TUNING.keyPrefix,
    commandTimeoutMs: ms(r.commandTimeout, DEFAULT_REDIS_TUNING.commandTimeoutMs),
    connectTimeoutMs: ms(r.connectTimeout, DEFAULT_REDIS_TUNING.connectTimeoutMs),
    peerTimeoutMs: ms(r.peerTimeout, DEFAULT_REDIS_TUNING.peerTimeoutMs),
    peerQueueLimit: r.peerQueueLimit ?? DEFAULT_REDIS_TUNING.peerQueueLimit,
    revocationFailOpenMs: ms(store.revocationFailOpen, DEFAULT_REDIS_TUNING.revocationFailOpenMs),
  }
}

export const DEFAULT_BREAKER: BreakerPolicy = { timeout: 2, errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeout: 10, rollingCountTimeout: 10 }
export const DEFAULT_FRESHNESS: Freshness = { maxStaleness: 8 * 3600, outageMaxStaleness: 7 * 86400 }
export const DEFAULT_TOKENS: TokenLifetimes = { idToken: 3600, accessToken: 600, refreshToken: 30 * 86400, degraded: 300, code: 60 }
const DEFAULT_HEALTH_INTERVAL = 5
/** The longest setTimeout Node honours (2^31 - 1 ms); beyond it a timer fires after 1 ms. */
export const MAX_TIMER_SECONDS = 2_147_483
const timerMessage = `at most ${MAX_TIMER_SECONDS} s (about 24 days): a longer Node timer fires after 1 ms instead`

/**
 * The longest each breaker duration may be (seconds), and why: past these a
 * breaker no longer protects anything, so neither the config nor a live
 * change through the admin API may set them.
 */
export const BREAKER_DURATION_LIMITS = {
  timeout: { max: 60, why: 'a call that has not answered in a minute has failed, and every login waiting on it waits too' },
  resetTimeout: { max: 600, why: 'an open breaker must try its region again within 10 minutes, or a recovered region stays unused' },
  rollingCountTimeout: { max: 600, why: 'failures older than 10 minutes say nothing about the region now' },
} as const

/** What is wrong with a breaker policy, from the config or a live PATCH: a timeout is never disabled, and no duration exceeds its bound. */
export function breakerPolicyProblems (policy: BreakerPolicy, at: string): Array<{ path: string, message: string }> {
  const problems: Array<{ path: string, message: string }> = []
  for (const [key, { max, why }] of Object.entries(BREAKER_DURATION_LIMITS) as Array<[keyof typeof BREAKER_DURATION_LIMITS, { max: number, why: string }]>) {
    if (policy[key] <= 0) problems.push({ path: `${at}/${key}`, message: key === 'timeout' ? 'a breaker timeout must be positive: calls are never left without one' : 'must be positive' })
    else if (policy[key] > max) problems.push({ path: `${at}/${key}`, message: `at most ${max} s: ${why}` })
  }
  return problems
}
/**
 * Per client address, and only on what costs the upstream or guesses a secret
 * (SECURITY.md, "Rate limits"): generous enough that a carrier-grade NAT full
 * of phones coming back after an outage starts its new logins, tight enough to
 * stop secret guessing and floods; tune per deployment.
 */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  enabled: true,
  token: { max: 1000, window: 10 },
  authorize: { max: 300, window: 10 },
  admin: { max: 30, window: 10 },
}

/** The shortest admin token accepted: 32 random characters are far out of reach of guessing, even past the rate limit. */
export const MIN_ADMIN_TOKEN_LENGTH = 32

/** Problems found while resolving: the rule broken at a path, and the offending value (the loader decides whether a report may show it). */
export type Problems = Array<{ path: string, message: string, value?: unknown }>

/** Applies defaults and the checks a schema cannot express; appends problems instead of throwing. */
export function resolveConfig (raw: RawConfig, baseDir: string, problems: Problems): Config {
  const path = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p))
  const sessions = freshness(raw.sessions, DEFAULT_FRESHNESS, '/sessions', problems)
  const tokens = { ...DEFAULT_TOKENS }
  for (const [name, value] of Object.entries(raw.tokens ?? {})) {
    if (value !== undefined) tokens[name as keyof TokenLifetimes] = parseDuration(value)
  }
  if (tokens.code > 600) problems.push({ path: '/tokens/code', message: 'an authorization code may live at most 10m (RFC 6749 §4.1.2)' })
  if (tokens.degraded > tokens.idToken) problems.push({ path: '/tokens/degraded', message: 'must not exceed tokens.idToken' })

  unique(raw.providers.map((p) => p.id), '/providers', 'id', problems)
  unique(raw.clients.map((c) => c.clientId), '/clients', 'clientId', problems)
  const providers = raw.providers.map((p, i) => provider(p, `/providers/${i}`, problems))
  const known = new Set(providers.map((p) => p.id))
  const clients = raw.clients.map((c, i) => client(c, `/clients/${i}`, sessions, known, problems))

  const store = storeConfig(raw.store, path, problems)
  const listen = raw.listen ?? { host: '0.0.0.0', port: 8080 }
  const admin = raw.admin ?? { host: '127.0.0.1', port: 9090 }
  // No value in the problem: the report must never print the token.
  if (admin.token && admin.token.length < MIN_ADMIN_TOKEN_LENGTH) problems.push({ path: '/admin/token', message: `the admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (for example openssl rand -base64 32); leave it empty or unset to close the admin API` })
  return {
    issuer: raw.issuer.replace(/\/+$/, ''),
    region: raw.region,
    listen: listen.tls ? { ...listen, tls: { cert: path(listen.tls.cert), key: path(listen.tls.key) } } : { host: listen.host, port: listen.port },
    admin,
    keys: { signing: path(raw.keys.signing), sealing: path(raw.keys.sealing) },
    store,
    providers,
    clients,
    sessions,
    tokens,
    chaos: { enabled: raw.chaos?.enabled ?? false },
    webhooks: webhooks(raw.webhooks ?? [], problems),
    shutdown: { drainDelay: raw.shutdown?.drainDelay === undefined ? 0 : parseDuration(raw.shutdown.drainDelay) },
    rateLimits: rateLimits(raw.rateLimits, problems),
    trustProxy: raw.trustProxy ?? false,
  }
}

/** The store section with the Redis TLS files made absolute; appends what the schema cannot check. */
function storeConfig (raw: RawConfig['store'], path: (p: string) => string, problems: Problems): Config['store'] {
  const store = raw ?? { kind: 'memory' as const }
  if (store.kind !== 'redis') return store
  const r = store.redis
  if (!r || (!r.url && !r.sentinels && !r.cluster)) problems.push({ path: '/store/redis', message: 'store.kind redis needs store.redis.url, store.redis.sentinels (+ name) or store.redis.cluster' })
  else if (r.sentinels && !r.name) problems.push({ path: '/store/redis/name', message: 'sentinels need the master group name' })
  if (!r) return store
  for (const key of ['username', 'password', 'sentinelPassword'] as const) {
    if (r[key] !== undefined && !r.sentinels) problems.push({ path: `/store/redis/${key}`, message: `${key} is for sentinels; with url or cluster the user and password go in the URL (redis://user:password@host)` })
  }
  if (r.username !== undefined && r.password === undefined) problems.push({ path: '/store/redis/username', message: 'a user needs its password' })
  r.peers?.forEach((peer, i) => {
    if (peer === r.url || r.cluster?.includes(peer)) problems.push({ path: `/store/redis/peers/${i}`, message: 'a peer is another region\'s Redis, not this region\'s own' })
  })
  for (const key of ['commandTimeout', 'connectTimeout', 'peerTimeout'] as const) {
    if (r[key] !== undefined && parseDuration(r[key]) <= 0) problems.push({ path: `/store/redis/${key}`, message: 'must be positive: a Redis call is never left without a timeout' })
  }
  const urls = [
    ...(r.url === undefined ? [] : [{ at: '/store/redis/url', url: r.url }]),
    ...(r.cluster ?? []).map((url, i) => ({ at: `/store/redis/cluster/${i}`, url })),
    ...(r.peers ?? []).map((url, i) => ({ at: `/store/redis/peers/${i}`, url })),
  ]
  for (const { at, url } of urls) {
    // Never the URL itself in the message: it carries the password.
    const parsed = URL.canParse(url) ? new URL(url) : undefined
    if (!parsed?.hostname) problems.push({ path: at, message: 'not a Redis URL (redis://user:password@host:port)' })
    else if (parsed.username && !parsed.password) problems.push({ path: at, message: 'names a user but no password (an unset or empty ${ENV}?)' })
  }
  if (!r.tls) return store
  if (!urls.some(({ url }) => url.startsWith('rediss://'))) problems.push({ path: '/store/redis/tls', message: 'applies to rediss:// URLs (url, cluster, peers), and none is configured' })
  if ((r.tls.cert === undefined) !== (r.tls.key === undefined)) problems.push({ path: '/store/redis/tls', message: 'a client certificate needs both cert and key' })
  const files = Object.fromEntries((['ca', 'cert', 'key'] as const).flatMap((k) => (r.tls?.[k] === undefined ? [] : [[k, path(r.tls[k])]])))
  return { ...store, redis: { ...r, tls: { ...r.tls, ...files } } }
}

/** Receivers are checked here, where a bad one stops the start, rather than at the first outage. */
function webhooks (hooks: NonNullable<RawConfig['webhooks']>, problems: Problems): Config['webhooks'] {
  hooks.forEach((hook, i) => {
    // Never the URL in a message: receivers' URLs often carry a token.
    const at = `/webhooks/${i}/url`
    const url = URL.canParse(hook.url) ? new URL(hook.url) : undefined
    if (!url) {
      problems.push({ path: at, message: 'not a URL' })
      return
    }
    if (url.protocol === 'http:' && hook.allowHttp !== true) problems.push({ path: at, message: 'a receiver must be https; allowHttp: true lets a development receiver use http' })
    const refused = refusedReceiverHost(url.hostname)
    if (refused) problems.push({ path: at, message: `refused: ${refused}` })
  })
  return hooks
}

function rateLimits (raw: RawConfig['rateLimits'], problems: Problems): RateLimits {
  const limit = (name: 'token' | 'authorize' | 'admin'): RateLimit => {
    const given = raw?.[name]
    const window = given?.window === undefined ? DEFAULT_RATE_LIMITS[name].window : parseDuration(given.window)
    if (window <= 0) problems.push({ path: `/rateLimits/${name}/window`, message: 'must be positive' })
    return { max: given?.max ?? DEFAULT_RATE_LIMITS[name].max, window }
  }
  return { enabled: raw?.enabled ?? true, token: limit('token'), authorize: limit('authorize'), admin: limit('admin') }
}

function provider (raw: RawProvider, at: string, problems: Problems): ProviderConfig {
  unique(raw.regions.map((r) => r.name), `${at}/regions`, 'name', problems)
  raw.regions.forEach((region, i) => {
    if (raw.kind === 'oidc' && !region.url) problems.push({ path: `${at}/regions/${i}/url`, message: 'kind oidc needs the region url (its discovery document is read from there)' })
    if (raw.kind === 'oauth2') {
      for (const key of ['authorizationEndpoint', 'tokenEndpoint', 'userinfoEndpoint'] as const) {
        if (!region[key]) problems.push({ path: `${at}/regions/${i}/${key}`, message: `kind oauth2 needs ${key} in every region` })
      }
    }
  })
  if (raw.kind === 'oidc' && !raw.issuer) problems.push({ path: `${at}/issuer`, message: 'kind oidc needs the expected upstream issuer (mix-up defence)' })
  if (raw.kind === 'oauth2' && !raw.claims?.sub) problems.push({ path: `${at}/claims/sub`, message: 'kind oauth2 needs claims.sub: the dotted path of the user id in the userinfo response' })
  for (const key of Object.keys(raw.reauthenticate ?? {})) {
    if (PROTOCOL_PARAMETERS.includes(key)) problems.push({ path: `${at}/reauthenticate/${key}`, message: `${key} is set by the gateway itself; reauthenticate adds only the provider's own re-authentication parameters` })
  }
  const breaker = { ...DEFAULT_BREAKER }
  for (const [key, value] of Object.entries(raw.breaker ?? {}) as Array<[keyof RawBreakerPolicy, number | string]>) {
    breaker[key] = typeof value === 'string' ? parseDuration(value) : value
  }
  problems.push(...breakerPolicyProblems(breaker, `${at}/breaker`))
  const interval = healthCheckInterval(raw)
  if (interval > MAX_TIMER_SECONDS) problems.push({ path: `${at}/healthCheck/interval`, message: timerMessage })
  const { breaker: _b, healthCheck, scopes, pkce, reauthenticate, ...rest } = raw
  return {
    ...rest,
    scopes: scopes ?? (raw.kind === 'oidc' ? ['openid'] : []),
    pkce: pkce ?? true,
    // OIDC Core §3.1.2.1 defines prompt=login; a plain OAuth 2.0 provider has its own parameter, if any, so none is guessed.
    reauthenticate: reauthenticate ?? (raw.kind === 'oidc' ? { prompt: 'login' } : {}),
    breaker,
    healthCheck: {
      interval,
      ...(healthCheck?.url ? { url: healthCheck.url } : {}),
    },
  }
}

function healthCheckInterval (raw: RawProvider): number {
  return raw.healthCheck?.interval === undefined ? DEFAULT_HEALTH_INTERVAL : parseDuration(raw.healthCheck.interval)
}

function client (raw: RawClient, at: string, defaults: Freshness, known: Set<string>, problems: Problems): ClientConfig {
  raw.providers.forEach((id, i) => {
    if (!known.has(id)) problems.push({ path: `${at}/providers/${i}`, message: 'no provider with this id', value: id })
  })
  raw.redirectUris.forEach((uri, i) => checkRedirectUri(uri, `${at}/redirectUris/${i}`, problems))
  const postLogout = raw.postLogoutRedirectUris ?? []
  postLogout.forEach((uri, i) => checkRedirectUri(uri, `${at}/postLogoutRedirectUris/${i}`, problems))
  return {
    ...raw,
    postLogoutRedirectUris: postLogout,
    freshness: freshness(raw.freshness, defaults, `${at}/freshness`, problems),
    idTokenSignedResponseAlg: raw.idTokenSignedResponseAlg ?? 'ES256',
  }
}

function freshness (raw: { maxStaleness?: number | string, outageMaxStaleness?: number | string } | undefined, defaults: Freshness, at: string, problems: Problems): Freshness {
  const result = {
    maxStaleness: raw?.maxStaleness === undefined ? defaults.maxStaleness : parseDuration(raw.maxStaleness),
    outageMaxStaleness: raw?.outageMaxStaleness === undefined ? defaults.outageMaxStaleness : parseDuration(raw.outageMaxStaleness),
  }
  // Without its own block a client inherits `sessions`, whose own check reports the problem once.
  if (raw !== undefined && result.outageMaxStaleness < result.maxStaleness) problems.push({ path: `${at}/outageMaxStaleness`, message: 'must be at least maxStaleness' })
  return result
}

const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'vbscript:', 'file:', 'blob:'])

function checkRedirectUri (uri: string, at: string, problems: Problems): void {
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    problems.push({ path: at, message: 'not an absolute URL', value: uri })
    return
  }
  if (FORBIDDEN_SCHEMES.has(url.protocol)) problems.push({ path: at, message: `the ${url.protocol} scheme is not allowed` })
  if (uri.includes('#')) problems.push({ path: at, message: 'a redirect URI must not have a fragment (RFC 6749 §3.1.2)' })
}

function unique (values: string[], at: string, key: string, problems: Problems): void {
  const seen = new Set<string>()
  values.forEach((value, i) => {
    if (seen.has(value)) problems.push({ path: `${at}/${i}/${key}`, message: `duplicate ${key}`, value })
    seen.add(value)
  })
}
