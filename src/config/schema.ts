import { Type, type StaticDecode, type TSchema } from '@sinclair/typebox'
import { parseDuration } from './duration.js'

/**
 * The one source of truth for the config file (DESIGN §3): its rules, its
 * defaults, and (through StaticDecode) the type of the loaded config.
 */

const DURATION_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)?\\s*$'

/** A duration with its meaning: a number of seconds or a string like "90s" in the file, seconds once decoded. */
function duration (meaning: string, options: { default?: string | number } = {}) {
  return Type.Transform(Type.Union([
    Type.Number({ minimum: 0 }),
    Type.String({ pattern: DURATION_PATTERN, description: 'seconds, or a string like 90s, 10m, 8h, 7d' }),
  ], { description: `A duration: ${meaning}`, ...options }))
    .Decode((value) => parseDuration(value))
    .Encode((seconds) => seconds)
}

const HttpUrl = Type.String({ pattern: '^https?://[^\\s]+$', description: 'an http(s) URL' })
const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'letters, digits, _ . -' })

const Listener = Type.Object({
  host: Type.String({ default: '0.0.0.0', description: 'interface to listen on' }),
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'public OIDC port; 0 picks a free port' }),
  tls: Type.Optional(Type.Object({
    cert: Type.String({ description: 'path to a PEM certificate chain' }),
    key: Type.String({ description: 'path to a PEM private key' }),
  }, { additionalProperties: false, description: 'serve HTTPS directly (most deployments terminate TLS at the ingress)' })),
}, { additionalProperties: false, default: {}, description: 'the public OIDC listener' })

/** A breaker policy: complete in a stored override, each omitted key defaulted in the config (live changes name only what they change). */
export const BreakerPolicySchema = Type.Object({
  timeout: duration('how long one upstream call may take before it is cancelled and counted as a failure, at most 60s (never disabled)', { default: '2s' }),
  errorThresholdPercentage: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 100, default: 50, description: 'failure percentage in the rolling window that opens the breaker, above 0 and below 100' }),
  volumeThreshold: Type.Integer({ minimum: 0, maximum: 1_000, default: 10, description: 'calls needed in the window before the breaker may open, at most 1000' }),
  resetTimeout: duration('how long an open breaker waits before a trial call (half-open), at most 10m', { default: '10s' }),
  rollingCountTimeout: duration('length of the rolling statistics window, at most 10m', { default: '10s' }),
}, { additionalProperties: false, description: 'opossum circuit breaker policy for one provider region' })

const Region = Type.Object({
  name: { ...Id, description: 'region name (metrics, admin API, status page)' },
  url: Type.Optional({ ...HttpUrl, description: 'oidc: where this region is reached; discovery is read from <url>/.well-known/openid-configuration' }),
  authorizationEndpoint: Type.Optional({ ...HttpUrl, description: 'oauth2: this region\'s authorization endpoint' }),
  tokenEndpoint: Type.Optional({ ...HttpUrl, description: 'oauth2: this region\'s token endpoint' }),
  userinfoEndpoint: Type.Optional({ ...HttpUrl, description: 'oauth2: this region\'s userinfo endpoint' }),
}, { additionalProperties: false, description: 'tried in this order; each region has its own breaker' })

const ProviderFields = Type.Object({
  id: { ...Id, description: 'provider id: in clients[].providers, /callback/<id> and provider=<id>' },
  kind: Type.Union([Type.Literal('oidc'), Type.Literal('oauth2')], { description: 'oidc (discovery, ID tokens) or oauth2 (explicit endpoints, userinfo claims)' }),
  issuer: Type.Optional(Type.String({ minLength: 1, description: 'expected upstream issuer (oidc); all regions share it' })),
  clientId: Type.String({ minLength: 1, description: 'the gateway\'s client id at the upstream' }),
  clientSecret: Type.Optional(Type.String({ description: 'the gateway\'s client secret at the upstream (use ${ENV})' })),
  scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'scopes asked of the upstream; default [openid] for oidc, none for oauth2' })),
  tokenEndpointAuthMethod: Type.Optional(Type.Union([Type.Literal('client_secret_basic'), Type.Literal('client_secret_post')], { description: 'default client_secret_post for oauth2; for oidc the first of discovery\'s methods the gateway supports' })),
  pkce: Type.Boolean({ default: true, description: 'send PKCE (S256) to the upstream' }),
  reauthenticate: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String(), { description: 'query parameters added to the upstream authorization request when fresh authentication is demanded (a relying party\'s prompt=login or max_age the upstream did not meet); default {prompt: login} for oidc, none for oauth2 (Naver: {auth_type: reauthenticate})' })),
  regions: Type.Array(Region, { minItems: 1 }),
  claims: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'claim name -> dotted path into the userinfo response' })),
  breaker: { ...BreakerPolicySchema, default: {}, description: 'circuit breaker policy of each region; omitted keys take defaults; tunable live through the admin API' },
  healthCheck: Type.Object({
    interval: duration('how often each region is probed', { default: '5s' }),
    url: Type.Optional({ ...HttpUrl, description: 'probe this URL instead of discovery (oidc) or the authorization endpoint (oauth2)' }),
  }, { additionalProperties: false, default: {}, description: 'active health probes; a failed probe opens the region\'s breaker at once' }),
}, { additionalProperties: false, description: 'upstream identity providers' })

/** A provider, with the defaults that depend on its kind. */
const Provider = Type.Transform(ProviderFields)
  .Decode((provider) => ({
    ...provider,
    scopes: provider.scopes ?? (provider.kind === 'oidc' ? ['openid'] : []),
    // OIDC Core §3.1.2.1 defines prompt=login; a plain OAuth 2.0 provider has its own parameter, if any, so none is guessed.
    reauthenticate: provider.reauthenticate ?? (provider.kind === 'oidc' ? { prompt: 'login' } : {}),
  }))
  .Encode((provider) => provider)

const SSO_MEANING = 'within it a returning user logs in without an upstream round trip (SSO)'
const OUTAGE_MEANING = 'within it a returning user is served a cached login while the upstream is unavailable'
const BACKUP_MEANING = 'accept a backup login (a passkey or a linked provider, acr urn:understudy:acr:backup) when backupLogin is on; false: such a login gets temporarily_unavailable instead'
const STALENESS = 'how stale a login may be: staleness = now - the last time the upstream vouched for the user'

/** A client's own freshness: what it leaves out, it takes from `sessions`. */
const ClientFreshness = Type.Object({
  maxStaleness: Type.Optional(duration(`${SSO_MEANING} (default: sessions.maxStaleness)`)),
  outageMaxStaleness: Type.Optional(duration(`${OUTAGE_MEANING} (default: sessions.outageMaxStaleness)`)),
  acceptBackupLogin: Type.Optional(Type.Boolean({ description: `${BACKUP_MEANING} (default: sessions.acceptBackupLogin)` })),
}, { additionalProperties: false, description: STALENESS })

const Sessions = Type.Object({
  maxStaleness: duration(SSO_MEANING, { default: '8h' }),
  outageMaxStaleness: duration(OUTAGE_MEANING, { default: '7d' }),
  acceptBackupLogin: Type.Boolean({ default: true, description: BACKUP_MEANING }),
}, { additionalProperties: false, default: {}, description: `freshness defaults for every client: ${STALENESS}` })

const Client = Type.Object({
  clientId: Type.String({ minLength: 1, maxLength: 255, description: 'the relying party\'s client id' }),
  clientSecret: Type.Optional(Type.String({ minLength: 1, description: 'omit for a public client (PKCE required)' })),
  redirectUris: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'exact-match redirect URIs' }),
  postLogoutRedirectUris: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'where /logout may send the browser back to' }),
  providers: Type.Array(Id, { minItems: 1, description: 'upstream providers this client may use; the first is the default' }),
  freshness: Type.Optional(ClientFreshness),
  idTokenSignedResponseAlg: Type.Union([Type.Literal('ES256'), Type.Literal('RS256'), Type.Literal('EdDSA')], { default: 'ES256', description: 'ID token algorithm' }),
  accessTokenFormat: Type.Union([Type.Literal('jwt'), Type.Literal('opaque')], { default: 'jwt', description: 'jwt: a signed RFC 9068 JWT; opaque: a sealed, self-contained token (no store write) that only /userinfo, /introspect and /revoke can read' }),
}, { additionalProperties: false, description: 'relying parties' })

const Directory = Type.Object({
  kind: Type.Union([Type.Literal('embedded'), Type.Literal('postgres')], { default: 'embedded', description: 'embedded: PGlite, files under path (one instance); postgres: a PostgreSQL-wire database at url (every instance of every region)' }),
  path: Type.String({ minLength: 1, default: './data/directory', description: 'embedded: the directory\'s files (relative to the config file)' }),
  url: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'postgres: the primary (writes and reads); use ${ENV} for the password' })),
  readUrl: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'postgres: a region-local read replica for logins (a passkey login only reads); default url' })),
  timeout: duration('longest wait for one directory query; over it the query fails and only the login that needs it gets temporarily_unavailable', { default: '1s' }),
}, { additionalProperties: false, default: {}, description: 'durable identity data for backup login (linked identities, passkeys): read only by the logins that need it' })

const BackupLogin = Type.Object({
  passkeys: Type.Boolean({ default: true, description: 'users may add passkeys (WebAuthn, discoverable, user verification required) and log in with them' }),
  linkedProviders: Type.Boolean({ default: true, description: 'users may link a second provider and log in with it when their own is down' }),
  offer: Type.Union([Type.Literal('after-login'), Type.Literal('never')], { default: 'after-login', description: 'after-login: after an upstream login, a user with no backup method is offered one before returning to the site' }),
  offerEvery: duration('after "Not now", how long before the offer is shown to that user again', { default: '30d' }),
  passkeyWhenHealthy: Type.Boolean({ default: false, description: 'also offer the passkey login while the upstream is up (a faster, phishing-resistant login)' }),
}, { additionalProperties: false, description: 'backup login (passkeys, linked providers) for users a cached session cannot serve; absent: off' })

const RedisNode = Type.Object({ host: Type.String(), port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false })

const RedisTls = Type.Object({
  ca: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the CA certificates to trust instead of the system\'s (a private CA)' })),
  servername: Type.Optional(Type.String({ minLength: 1, description: 'the name the server certificates must carry, when it is not the URL\'s host (an IP address, a load balancer); also sent as SNI' })),
  cert: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of a client certificate, for a Redis that requires one (tls-auth-clients); with key' })),
  key: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the client certificate\'s private key; with cert' })),
}, { additionalProperties: false, description: 'TLS for every rediss:// connection (url, cluster, peers): server certificates are always verified' })

const Store = Type.Object({
  kind: Type.Union([Type.Literal('memory'), Type.Literal('redis')], { default: 'memory', description: 'memory: this process only; redis: shared by every instance of the region, with peers in other regions' }),
  redis: Type.Object({
    url: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'this region\'s Redis (rediss:// for TLS)' })),
    sentinels: Type.Optional(Type.Array(RedisNode, { minItems: 1, description: 'this region\'s Sentinels, instead of url (with name)' })),
    name: Type.Optional(Type.String({ description: 'the Sentinel master group name' })),
    password: Type.Optional(Type.String({ minLength: 1, description: 'with sentinels: the password (AUTH) of the master and replicas they name (use ${ENV}); with url or cluster, put it in the URL' })),
    username: Type.Optional(Type.String({ minLength: 1, description: 'with sentinels: the ACL user of the master and replicas (with password); with url, cluster or peers, put it in the URL' })),
    sentinelPassword: Type.Optional(Type.String({ minLength: 1, description: 'with sentinels: the Sentinels\' own password, when they have one (requirepass; use ${ENV})' })),
    cluster: Type.Optional(Type.Array(Type.String({ pattern: '^rediss?://' }), { minItems: 1, description: 'seed URLs of this region\'s Redis Cluster, instead of url' })),
    peers: Type.Optional(Type.Array(Type.String({ pattern: '^rediss?://' }), { description: 'other regions\' Redis, each another server than this region\'s and than every other peer: tombstones and rotations are copied there, codes and rotations also decided there, revocations read from there when this region\'s Redis misses or fails' })),
    tls: Type.Optional(RedisTls),
    keyPrefix: Type.String({ default: 'understudy:', pattern: '^[^{}]*$', description: 'prepended to every key; no braces: each key\'s hash tag is its id, and a brace here would put the keys of one id in different Cluster slots' }),
    commandTimeout: duration('longest wait for one command to this region\'s Redis before the in-process fallback answers', { default: '500ms' }),
    connectTimeout: duration('longest wait for a connection to a Redis', { default: '1s' }),
    peerTimeout: duration('longest wait for one command to a peer; a login waits at most this long on a peer', { default: '250ms' }),
    peerQueueLimit: Type.Integer({ minimum: 1, default: 10_000, description: 'writes queued per unreachable peer before the oldest is dropped' }),
  }, { additionalProperties: false, default: {} }),
  revocationFailOpen: duration('how long revocation checks answer "not revoked" while no store answers before the outage is logged as an error; they keep failing open after it', { default: '5m' }),
}, { additionalProperties: false, default: {} })

const RateLimit = (what: string, max: number, window: string) => Type.Object({
  max: Type.Integer({ minimum: 1, default: max, description: 'requests allowed per window' }),
  window: duration('the fixed window the requests are counted in', { default: window }),
}, { additionalProperties: false, default: {}, description: what })

const RateLimits = Type.Object({
  enabled: Type.Boolean({ default: true, description: 'false turns every limit off (logged as a warning at start)' }),
  token: RateLimit('failed client authentications at /token, /revoke, /introspect, per client address (IPv6: per /64); over it, no confidential client authenticates from that address until the window ends. Successful requests are not counted', 1000, '10s'),
  authorize: RateLimit('new upstream transactions (an /authorize that sends the browser upstream) and /callback/:provider, each per client address (IPv6: per /64); an SSO or cached login is not counted', 300, '10s'),
  admin: RateLimit('/admin/* on the admin port, before the token is checked: per client address (probes and /metrics are never limited)', 30, '10s'),
  status: RateLimit('public /status, /status.json and /healthz, one budget for the three, per client address (IPv6: per /64); /livez and /readyz are never limited', 600, '60s'),
}, { additionalProperties: false, default: {}, description: 'per-address rate limits on what costs the upstream or guesses a secret, and on the public status (429 with Retry-After); shared through Redis when store.kind is redis, per instance otherwise' })

/** What a webhook may subscribe to: outage events, and changes to users' backup login methods. */
export const WEBHOOK_EVENTS = ['provider.degraded', 'provider.recovered', 'region.open', 'region.closed', 'identity.passkey.added', 'identity.passkey.removed', 'identity.linked', 'identity.unlinked'] as const
const WebhookEventName = Type.Union([
  Type.Literal('provider.degraded'), Type.Literal('provider.recovered'), Type.Literal('region.open'), Type.Literal('region.closed'),
  Type.Literal('identity.passkey.added'), Type.Literal('identity.passkey.removed'), Type.Literal('identity.linked'), Type.Literal('identity.unlinked'),
])

const LogLevel = Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')], { default: 'info', description: 'the lowest pino level written: fatal, error, warn, info, debug, trace or silent; the listening line is written whatever the level' })

const ConfigFields = Type.Object({
  issuer: Type.Transform(Type.String({ pattern: '^https?://[^\\s?#]+$', description: 'public issuer URL; same in every region; no query or fragment' }))
    .Decode((issuer) => issuer.replace(/\/+$/, ''))
    .Encode((issuer) => issuer),
  region: Type.String({ minLength: 1, default: 'local', description: 'this instance\'s region name (logs, health, incidents, webhooks)' }),
  listen: Listener,
  admin: Type.Object({
    host: Type.String({ default: '127.0.0.1', description: 'keep it private' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 9090, description: 'admin port: probes, /metrics, /admin/*' }),
    token: Type.Optional(Type.String({ description: 'bearer token for /admin/*, at least 32 characters (use ${ENV}); empty or absent: the admin API is closed' })),
  }, { additionalProperties: false, default: {}, description: 'the admin listener' }),
  keys: Type.Object({
    signing: Type.String({ minLength: 1, description: 'path to a private JWK Set' }),
    sealing: Type.String({ minLength: 1, description: 'path to a JWK Set of 256-bit oct keys' }),
  }, { additionalProperties: false, description: 'signing and sealing keys, shared by every region' }),
  store: Store,
  providers: Type.Array(Provider, { minItems: 1 }),
  clients: Type.Array(Client, { minItems: 1 }),
  sessions: Sessions,
  tokens: Type.Object({
    idToken: duration('ID token lifetime', { default: '1h' }),
    accessToken: duration('access token lifetime', { default: '10m' }),
    refreshToken: duration('refresh token family lifetime', { default: '30d' }),
    degraded: duration('cap on ID and access token lifetimes of a cached login', { default: '5m' }),
    code: duration('authorization code lifetime, at most 10m', { default: '60s' }),
  }, { additionalProperties: false, default: {}, description: 'lifetimes of what the gateway issues' }),
  shutdown: Type.Object({
    drainDelay: duration('how long /readyz answers 503 before the listeners close', { default: '0s' }),
  }, { additionalProperties: false, default: {}, description: 'on SIGTERM, /readyz answers 503 for drainDelay before the listeners close, so load balancers stop sending traffic first' }),
  webhooks: Type.Array(Type.Object({
    url: { ...HttpUrl, description: 'the receiver: https (http only with allowHttp); never a link-local or cloud metadata address' },
    allowHttp: Type.Optional(Type.Boolean({ description: 'allow a plain http receiver (development only: the events travel unencrypted); default false' })),
    events: Type.Array(WebhookEventName, { minItems: 1, uniqueItems: true, description: WEBHOOK_EVENTS.join(', ') }),
    secret: Type.String({ minLength: 16, description: 'HMAC-SHA256 key for the understudy-signature header (use ${ENV})' }),
    previousSecret: Type.Optional(Type.String({ minLength: 16, description: 'during a rotation, the secret being replaced: deliveries carry a signature with each, so the receiver may switch at its own pace (use ${ENV})' })),
  }, { additionalProperties: false }), { default: [], description: 'outage notifications, signed and retried; never in the way of a login' }),
  rateLimits: RateLimits,
  trustProxy: Type.Union([
    Type.Boolean(),
    Type.String({ minLength: 1 }),
    Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  ], { default: false, description: 'which proxies may set X-Forwarded-For (Fastify trustProxy): false (the TCP peer is the client), the proxies\' addresses or CIDRs (a list, or one comma-separated string, e.g. 10.0.0.0/8), or true (trust any peer: only when nothing but the ingress can reach the listener); per-IP rate limits and logs use the client address it yields' }),
  logging: Type.Object({
    level: LogLevel,
    requests: Type.Boolean({ default: true, description: 'one access line per finished request (method, URL with secrets masked, route, status, response time, request id, client address); false: none' }),
  }, { additionalProperties: false, default: {}, description: 'JSON log lines (pino) on stdout' }),
  directory: Directory,
  backupLogin: Type.Optional(BackupLogin),
  chaos: Type.Object({ enabled: Type.Boolean({ default: false, description: 'allow run-time fault injection (/admin/faults); keep false in production' }) }, { additionalProperties: false, default: {} }),
}, { additionalProperties: false, $id: 'https://understudy.dev/schemas/config.json', title: 'understudy config' })

/** The config file's schema; decoded, each client's freshness is complete, what it leaves out taken from `sessions`. */
export const ConfigSchema = Type.Transform(ConfigFields)
  .Decode((config) => ({
    ...config,
    clients: config.clients.map((client) => ({ ...client, freshness: { ...config.sessions, ...client.freshness } })),
  }))
  .Encode((config) => config)

/** The loaded config: defaults applied, durations in seconds (the resolve step then makes paths absolute). */
export type Config = StaticDecode<typeof ConfigSchema>
export type ProviderConfig = Config['providers'][number]
export type RegionConfig = ProviderConfig['regions'][number]
export type ClientConfig = Config['clients'][number]
export type Freshness = Config['sessions']
export type TokenLifetimes = Config['tokens']
export type RateLimits = Config['rateLimits']
export type DirectoryConfig = Config['directory']
export type BackupLoginConfig = NonNullable<Config['backupLogin']>
/** One rate limit: at most `max` requests per fixed `window` (seconds). */
export type RateLimit = RateLimits['token']
/** Fastify's trustProxy: who may set X-Forwarded-For. */
export type TrustProxy = Config['trustProxy']
/** A breaker policy with every duration in seconds. */
export type BreakerPolicy = StaticDecode<typeof BreakerPolicySchema>
