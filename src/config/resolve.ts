import { isAbsolute, resolve } from 'node:path'
import { refusedReceiverHost } from '../notify/receiver-address.js'
import { PROTOCOL_PARAMETERS } from '../upstream/authorization-url.js'
import type { BreakerPolicy, ClientConfig, Config, Freshness, ProviderConfig } from './schema.js'

export type { BackupLoginConfig, BreakerPolicy, ClientConfig, Config, DirectoryConfig, Freshness, ProviderConfig, RateLimit, RateLimits, RegionConfig, TokenLifetimes, TrustProxy } from './schema.js'

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

/** The Redis store's tuning from `store`, in the milliseconds its clients count in. */
export function redisTuning (store: Config['store']): RedisTuning {
  const r = store.redis
  return {
    keyPrefix: r.keyPrefix,
    commandTimeoutMs: r.commandTimeout * 1000,
    connectTimeoutMs: r.connectTimeout * 1000,
    peerTimeoutMs: r.peerTimeout * 1000,
    peerQueueLimit: r.peerQueueLimit,
    revocationFailOpenMs: store.revocationFailOpen * 1000,
  }
}

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
/** The shortest admin token accepted: 32 random characters are far out of reach of guessing, even past the rate limit. */
export const MIN_ADMIN_TOKEN_LENGTH = 32

/** Problems found while resolving: the rule broken at a path, and the offending value (the loader decides whether a report may show it). */
export type Problems = Array<{ path: string, message: string, value?: unknown }>

/**
 * The checks a schema cannot express (one key against another, URLs, files),
 * appended to `problems`, and the config with every file path made absolute
 * against `baseDir`.
 */
export function resolveConfig (config: Config, baseDir: string, problems: Problems): Config {
  const path = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p))
  freshness(config.sessions, '/sessions', problems)
  if (config.tokens.code > 600) problems.push({ path: '/tokens/code', message: 'an authorization code may live at most 10m (RFC 6749 §4.1.2)' })
  if (config.tokens.degraded > config.tokens.idToken) problems.push({ path: '/tokens/degraded', message: 'must not exceed tokens.idToken' })

  unique(config.providers.map((p) => p.id), '/providers', 'id', problems)
  unique(config.clients.map((c) => c.clientId), '/clients', 'clientId', problems)
  config.providers.forEach((p, i) => provider(p, `/providers/${i}`, problems))
  const known = new Set(config.providers.map((p) => p.id))
  config.clients.forEach((c, i) => client(c, `/clients/${i}`, config.sessions, known, problems))
  // No value in the problem: the report must never print the token.
  if (config.admin.token && config.admin.token.length < MIN_ADMIN_TOKEN_LENGTH) problems.push({ path: '/admin/token', message: `the admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (for example openssl rand -base64 32); leave it empty or unset to close the admin API` })
  webhooks(config.webhooks, problems)
  for (const name of ['token', 'authorize', 'admin', 'status'] as const) {
    if (config.rateLimits[name].window <= 0) problems.push({ path: `/rateLimits/${name}/window`, message: 'must be positive' })
  }
  const { listen } = config
  return {
    ...config,
    listen: listen.tls ? { ...listen, tls: { cert: path(listen.tls.cert), key: path(listen.tls.key) } } : listen,
    keys: { signing: path(config.keys.signing), sealing: path(config.keys.sealing) },
    store: storeConfig(config.store, path, problems),
    directory: directoryConfig(config, path, problems),
  }
}

/** The directory section with its path made absolute; a postgres directory needs its url, and backup login a WebAuthn-capable issuer. */
function directoryConfig (config: Config, path: (p: string) => string, problems: Problems): Config['directory'] {
  const d = config.directory
  if (d.kind === 'postgres' && d.url === undefined) problems.push({ path: '/directory/url', message: 'directory.kind postgres needs directory.url (postgres://user:password@host/database)' })
  if (d.kind === 'embedded' && (d.url !== undefined || d.readUrl !== undefined)) problems.push({ path: '/directory', message: 'url and readUrl are for directory.kind postgres' })
  if (d.timeout <= 0) problems.push({ path: '/directory/timeout', message: 'must be positive: a directory query is never left without a timeout' })
  if (config.backupLogin?.passkeys === true) {
    const host = new URL(config.issuer).hostname
    // WebAuthn's RP ID is a domain: browsers refuse an IP address (DESIGN §10).
    if (/^[\d.]+$/.test(host) || host.includes(':') || host.startsWith('[')) problems.push({ path: '/issuer', message: 'passkeys need an issuer with a domain name (http://localhost:PORT in development): browsers refuse WebAuthn on an IP address' })
  }
  return { ...d, path: path(d.path) }
}

/** The store section with the Redis TLS files made absolute; appends what the schema cannot check. */
function storeConfig (store: Config['store'], path: (p: string) => string, problems: Problems): Config['store'] {
  if (store.kind !== 'redis') return store
  const r = store.redis
  if (!r.url && !r.sentinels && !r.cluster) problems.push({ path: '/store/redis', message: 'store.kind redis needs store.redis.url, store.redis.sentinels (+ name) or store.redis.cluster' })
  else if (r.sentinels && !r.name) problems.push({ path: '/store/redis/name', message: 'sentinels need the master group name' })
  for (const key of ['username', 'password', 'sentinelPassword'] as const) {
    if (r[key] !== undefined && !r.sentinels) problems.push({ path: `/store/redis/${key}`, message: `${key} is for sentinels; with url or cluster the user and password go in the URL (redis://user:password@host)` })
  }
  if (r.username !== undefined && r.password === undefined) problems.push({ path: '/store/redis/username', message: 'a user needs its password' })
  // Each peer makes single-use decisions of its own (a code's use, a rotation): the same Redis twice would
  // answer every first use as a replay, refusing every login. Compared by host, port and database, not by spelling.
  const own = new Set([r.url, ...(r.cluster ?? [])].filter((url) => url !== undefined).map(redisEndpoint))
  const seen = new Set<string>()
  r.peers?.forEach((peer, i) => {
    const endpoint = redisEndpoint(peer)
    if (own.has(endpoint)) problems.push({ path: `/store/redis/peers/${i}`, message: 'a peer is another region\'s Redis, not this region\'s own' })
    else if (seen.has(endpoint)) problems.push({ path: `/store/redis/peers/${i}`, message: `names the same Redis (${endpoint}) as an earlier peer: each peer decides single uses, so one Redis twice would refuse every code` })
    seen.add(endpoint)
  })
  for (const key of ['commandTimeout', 'connectTimeout', 'peerTimeout'] as const) {
    if (r[key] <= 0) problems.push({ path: `/store/redis/${key}`, message: 'must be positive: a Redis call is never left without a timeout' })
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
function webhooks (hooks: Config['webhooks'], problems: Problems): void {
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
}

function provider (p: ProviderConfig, at: string, problems: Problems): void {
  unique(p.regions.map((r) => r.name), `${at}/regions`, 'name', problems)
  p.regions.forEach((region, i) => {
    if (p.kind === 'oidc' && !region.url) problems.push({ path: `${at}/regions/${i}/url`, message: 'kind oidc needs the region url (its discovery document is read from there)' })
    if (p.kind === 'oauth2') {
      for (const key of ['authorizationEndpoint', 'tokenEndpoint', 'userinfoEndpoint'] as const) {
        if (!region[key]) problems.push({ path: `${at}/regions/${i}/${key}`, message: `kind oauth2 needs ${key} in every region` })
      }
    }
  })
  if (p.kind === 'oidc' && !p.issuer) problems.push({ path: `${at}/issuer`, message: 'kind oidc needs the expected upstream issuer (mix-up defence)' })
  if (p.kind === 'oauth2' && !p.claims?.sub) problems.push({ path: `${at}/claims/sub`, message: 'kind oauth2 needs claims.sub: the dotted path of the user id in the userinfo response' })
  for (const key of Object.keys(p.reauthenticate)) {
    if (PROTOCOL_PARAMETERS.includes(key)) problems.push({ path: `${at}/reauthenticate/${key}`, message: `${key} is set by the gateway itself; reauthenticate adds only the provider's own re-authentication parameters` })
  }
  problems.push(...breakerPolicyProblems(p.breaker, `${at}/breaker`))
  if (p.healthCheck.interval > MAX_TIMER_SECONDS) problems.push({ path: `${at}/healthCheck/interval`, message: timerMessage })
}

function client (c: ClientConfig, at: string, sessions: Freshness, known: Set<string>, problems: Problems): void {
  c.providers.forEach((id, i) => {
    if (!known.has(id)) problems.push({ path: `${at}/providers/${i}`, message: 'no provider with this id', value: id })
  })
  c.redirectUris.forEach((uri, i) => checkRedirectUri(uri, `${at}/redirectUris/${i}`, problems))
  c.postLogoutRedirectUris.forEach((uri, i) => checkRedirectUri(uri, `${at}/postLogoutRedirectUris/${i}`, problems))
  // A client that only inherits `sessions` would repeat its problem: it is reported once, there.
  if (c.freshness.maxStaleness !== sessions.maxStaleness || c.freshness.outageMaxStaleness !== sessions.outageMaxStaleness) freshness(c.freshness, `${at}/freshness`, problems)
}

function freshness (f: Freshness, at: string, problems: Problems): void {
  if (f.outageMaxStaleness < f.maxStaleness) problems.push({ path: `${at}/outageMaxStaleness`, message: 'must be at least maxStaleness' })
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

/** A Redis URL's host, port and database, for comparing two spellings of one (`localhost` is the loopback address); the URL itself when it does not parse. */
function redisEndpoint (url: string): string {
  try {
    const parsed = new URL(url)
    const host = parsed.hostname.toLowerCase().replace(/\.$/, '')
    const database = Number(parsed.pathname.slice(1) || '0')
    return `${host === 'localhost' || host === '[::1]' ? '127.0.0.1' : host}:${parsed.port || '6379'}/${Number.isInteger(database) ? database : parsed.pathname}`
  } catch {
    return url
  }
}
