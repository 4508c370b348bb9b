import { Type, type Static } from '@sinclair/typebox'

/** The one source of truth for the config file (DESIGN §3); the types are derived from it. */

const Duration = Type.Union([
  Type.Number({ minimum: 0 }),
  Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)?\\s*$', description: 'seconds, or a string like 90s, 10m, 8h, 7d' }),
], { description: 'A duration: a number of seconds, or a string like "90s", "10m", "8h", "7d".' })

/** A duration with its meaning, for the generated reference. */
const duration = (meaning: string) => Type.Union([Duration.anyOf[0]!, Duration.anyOf[1]!], { description: `A duration: ${meaning}` })

const HttpUrl = Type.String({ pattern: '^https?://[^\\s]+$', description: 'an http(s) URL' })
const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'letters, digits, _ . -' })

const Listener = Type.Object({
  host: Type.String({ default: '0.0.0.0', description: 'interface to listen on' }),
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'public OIDC port; 0 picks a free port' }),
  tls: Type.Optional(Type.Object({
    cert: Type.String({ description: 'path to a PEM certificate chain' }),
    key: Type.String({ description: 'path to a PEM private key' }),
  }, { additionalProperties: false, description: 'serve HTTPS directly (most deployments terminate TLS at the ingress)' })),
}, { additionalProperties: false, description: 'the public OIDC listener' })

export const BreakerPolicySchema = Type.Object({
  timeout: duration('how long one upstream call may take before it is cancelled and counted as a failure, at most 60s (default 2s; never disabled)'),
  errorThresholdPercentage: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 100, description: 'failure percentage in the rolling window that opens the breaker, above 0 and below 100 (default 50)' }),
  volumeThreshold: Type.Integer({ minimum: 0, maximum: 1_000, description: 'calls needed in the window before the breaker may open, at most 1000 (default 10)' }),
  resetTimeout: duration('how long an open breaker waits before a trial call (half-open), at most 10m (default 10s)'),
  rollingCountTimeout: duration('length of the rolling statistics window, at most 10m (default 10s)'),
}, { additionalProperties: false, description: 'opossum circuit breaker policy for one provider region' })

const Region = Type.Object({
  name: { ...Id, description: 'region name (metrics, admin API, status page)' },
  url: Type.Optional({ ...HttpUrl, description: 'oidc: where this region is reached; discovery is read from <url>/.well-known/openid-configuration' }),
  authorizationEndpoint: Type.Optional({ ...HttpUrl, description: 'oauth2: this region\'s authorization endpoint' }),
  tokenEndpoint: Type.Optional({ ...HttpUrl, description: 'oauth2: this region\'s token endpoint' }),
  userinfoEndpoint: Type.Optional({ ...HttpUrl, description: 'oauth2: this region\'s userinfo endpoint' }),
}, { additionalProperties: false, description: 'tried in this order; each region has its own breaker' })

const Provider = Type.Object({
  id: { ...Id, description: 'provider id: in clients[].providers, /callback/<id> and provider=<id>' },
  kind: Type.Union([Type.Literal('oidc'), Type.Literal('oauth2')], { description: 'oidc (discovery, ID tokens) or oauth2 (explicit endpoints, userinfo claims)' }),
  issuer: Type.Optional(Type.String({ minLength: 1, description: 'expected upstream issuer (oidc); all regions share it' })),
  clientId: Type.String({ minLength: 1, description: 'the gateway\'s client id at the upstream' }),
  clientSecret: Type.Optional(Type.String({ description: 'the gateway\'s client secret at the upstream (use ${ENV})' })),
  scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'scopes asked of the upstream (oidc default [openid])' })),
  tokenEndpointAuthMethod: Type.Optional(Type.Union([Type.Literal('client_secret_basic'), Type.Literal('client_secret_post')], { description: 'default client_secret_post for oauth2; for oidc the first of discovery\'s methods the gateway supports' })),
  pkce: Type.Optional(Type.Boolean({ description: 'send PKCE (S256) to the upstream; default true' })),
  reauthenticate: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String(), { description: 'query parameters added to the upstream authorization request when fresh authentication is demanded (a relying party\'s prompt=login or max_age the upstream did not meet); default {prompt: login} for oidc, none for oauth2 (Naver: {auth_type: reauthenticate})' })),
  regions: Type.Array(Region, { minItems: 1 }),
  claims: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'claim name -> dotted path into the userinfo response' })),
  breaker: Type.Optional(Type.Partial(BreakerPolicySchema, { description: 'circuit breaker policy of each region; omitted keys take defaults; tunable live through the admin API' })),
  healthCheck: Type.Optional(Type.Object({
    interval: Type.Optional(duration('how often each region is probed (default 5s)')),
    url: Type.Optional({ ...HttpUrl, description: 'probe this URL instead of discovery (oidc) or the authorization endpoint (oauth2)' }),
  }, { additionalProperties: false, description: 'active health probes; a failed probe opens the region\'s breaker at once' })),
}, { additionalProperties: false, description: 'upstream identity providers' })

const Freshness = Type.Object({
  maxStaleness: Type.Optional(duration('within it a returning user logs in without an upstream round trip (SSO) (default 8h)')),
  outageMaxStaleness: Type.Optional(duration('within it a returning user is served a cached login while the upstream is unavailable (default 7d)')),
}, { additionalProperties: false, description: 'how stale a login may be: staleness = now - the last time the upstream vouched for the user' })

const Client = Type.Object({
  clientId: Type.String({ minLength: 1, maxLength: 255, description: 'the relying party\'s client id' }),
  clientSecret: Type.Optional(Type.String({ minLength: 1, description: 'omit for a public client (PKCE required)' })),
  redirectUris: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'exact-match redirect URIs' }),
  postLogoutRedirectUris: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'where /logout may send the browser back to' })),
  providers: Type.Array(Id, { minItems: 1, description: 'upstream providers this client may use; the first is the default' }),
  freshness: Type.Optional(Freshness),
  idTokenSignedResponseAlg: Type.Optional(Type.Union([Type.Literal('ES256'), Type.Literal('RS256'), Type.Literal('EdDSA')], { description: 'ID token algorithm (default ES256)' })),
}, { additionalProperties: false, description: 'relying parties' })

const RedisNode = Type.Object({ host: Type.String(), port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false })

const RedisTls = Type.Object({
  ca: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the CA certificates to trust instead of the system\'s (a private CA)' })),
  servername: Type.Optional(Type.String({ minLength: 1, description: 'the name the server certificates must carry, when it is not the URL\'s host (an IP address, a load balancer); also sent as SNI' })),
  cert: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of a client certificate, for a Redis that requires one (tls-auth-clients); with key' })),
  key: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the client certificate\'s private key; with cert' })),
}, { additionalProperties: false, description: 'TLS for every rediss:// connection (url, cluster, peers): server certificates are always verified' })

const Store = Type.Object({
  kind: Type.Union([Type.Literal('memory'), Type.Literal('redis')], { default: 'memory', description: 'memory: this process only; redis: shared by every instance of the region, with peers in other regions' }),
  redis: Type.Optional(Type.Object({
    url: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'this region\'s Redis (rediss:// for TLS)' })),
    sentinels: Type.Optional(Type.Array(RedisNode, { minItems: 1, description: 'this region\'s Sentinels, instead of url (with name)' })),
    name: Type.Optional(Type.String({ description: 'the Sentinel master group name' })),
    password: Type.Optional(Type.String({ minLength: 1, description: 'with sentinels: the password (AUTH) of the master and replicas they name (use ${ENV}); with url or cluster, put it in the URL' })),
    username: Type.Optional(Type.String({ minLength: 1, description: 'with sentinels: the ACL user of the master and replicas (with password); with url, cluster or peers, put it in the URL' })),
    sentinelPassword: Type.Optional(Type.String({ minLength: 1, description: 'with sentinels: the Sentinels\' own password, when they have one (requirepass; use ${ENV})' })),
    cluster: Type.Optional(Type.Array(Type.String({ pattern: '^rediss?://' }), { minItems: 1, description: 'seed URLs of this region\'s Redis Cluster, instead of url' })),
    peers: Type.Optional(Type.Array(Type.String({ pattern: '^rediss?://' }), { description: 'other regions\' Redis: tombstones and rotations are copied there, and read from there when this region\'s Redis misses or fails' })),
    tls: Type.Optional(RedisTls),
    keyPrefix: Type.Optional(Type.String({ description: 'prepended to every key; default understudy:' })),
    commandTimeout: Type.Optional(duration('longest wait for one command to this region\'s Redis before the in-process fallback answers (default 500ms)')),
    connectTimeout: Type.Optional(duration('longest wait for a connection to a Redis (default 1s)')),
    peerTimeout: Type.Optional(duration('longest wait for one command to a peer; a login waits at most this long on a peer (default 250ms)')),
    peerQueueLimit: Type.Optional(Type.Integer({ minimum: 1, description: 'writes queued per unreachable peer before the oldest is dropped; default 10000' })),
  }, { additionalProperties: false })),
  revocationFailOpen: Type.Optional(duration('how long revocation checks answer "not revoked" while no store answers before the outage is logged as an error; they keep failing open after it (default 5m)')),
}, { additionalProperties: false })

const RateLimit = (what: string, max: number, window: string) => Type.Object({
  max: Type.Optional(Type.Integer({ minimum: 1, description: `requests allowed per window (default ${max})` })),
  window: Type.Optional(duration(`the fixed window the requests are counted in (default ${window})`)),
}, { additionalProperties: false, description: what })

const RateLimits = Type.Object({
  enabled: Type.Optional(Type.Boolean({ default: true, description: 'false turns every limit off (logged as a warning at start)' })),
  token: Type.Optional(RateLimit('failed client authentications at /token, /revoke, /introspect, per client address (IPv6: per /64); over it, no confidential client authenticates from that address until the window ends. Successful requests are not counted', 1000, '10s')),
  authorize: Type.Optional(RateLimit('new upstream transactions (an /authorize that sends the browser upstream) and /callback/:provider, each per client address (IPv6: per /64); an SSO or cached login is not counted', 300, '10s')),
  admin: Type.Optional(RateLimit('/admin/* on the admin port, before the token is checked: per client address (probes and /metrics are never limited)', 30, '10s')),
}, { additionalProperties: false, description: 'per-address rate limits on what costs the upstream or guesses a secret (429 with Retry-After); shared through Redis when store.kind is redis, per instance otherwise' })

export const ConfigSchema = Type.Object({
  issuer: Type.String({ pattern: '^https?://[^\\s?#]+$', description: 'public issuer URL; same in every region; no query or fragment' }),
  region: Type.String({ minLength: 1, default: 'local', description: 'this instance\'s region name (logs, health, incidents, webhooks)' }),
  listen: Type.Optional(Listener),
  admin: Type.Optional(Type.Object({
    host: Type.String({ default: '127.0.0.1', description: 'keep it private' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 9090, description: 'admin port: probes, /metrics, /admin/*' }),
    token: Type.Optional(Type.String({ description: 'bearer token for /admin/*, at least 32 characters (use ${ENV}); empty or absent: the admin API is closed' })),
  }, { additionalProperties: false, description: 'the admin listener' })),
  keys: Type.Object({
    signing: Type.String({ minLength: 1, description: 'path to a private JWK Set' }),
    sealing: Type.String({ minLength: 1, description: 'path to a JWK Set of 256-bit oct keys' }),
  }, { additionalProperties: false, description: 'signing and sealing keys, shared by every region' }),
  store: Type.Optional(Store),
  providers: Type.Array(Provider, { minItems: 1 }),
  clients: Type.Array(Client, { minItems: 1 }),
  sessions: Type.Optional({ ...Freshness, description: 'freshness defaults for every client' }),
  tokens: Type.Optional(Type.Object({
    idToken: Type.Optional(duration('ID token lifetime (default 1h)')),
    accessToken: Type.Optional(duration('access token lifetime (default 10m)')),
    refreshToken: Type.Optional(duration('refresh token family lifetime (default 30d)')),
    degraded: Type.Optional(duration('cap on ID and access token lifetimes of a cached login (default 5m)')),
    code: Type.Optional(duration('authorization code lifetime, at most 10m (default 60s)')),
  }, { additionalProperties: false, description: 'lifetimes of what the gateway issues' })),
  shutdown: Type.Optional(Type.Object({
    drainDelay: Type.Optional(duration('how long /readyz answers 503 before the listeners close (default 0s)')),
  }, { additionalProperties: false, description: 'on SIGTERM, /readyz answers 503 for drainDelay before the listeners close, so load balancers stop sending traffic first' })),
  webhooks: Type.Optional(Type.Array(Type.Object({
    url: { ...HttpUrl, description: 'the receiver: https (http only with allowHttp); never a link-local or cloud metadata address' },
    allowHttp: Type.Optional(Type.Boolean({ description: 'allow a plain http receiver (development only: the events travel unencrypted); default false' })),
    events: Type.Array(Type.Union([Type.Literal('provider.degraded'), Type.Literal('provider.recovered'), Type.Literal('region.open'), Type.Literal('region.closed')]), { minItems: 1, uniqueItems: true, description: 'provider.degraded, provider.recovered, region.open, region.closed' }),
    secret: Type.String({ minLength: 16, description: 'HMAC-SHA256 key for the understudy-signature header (use ${ENV})' }),
    previousSecret: Type.Optional(Type.String({ minLength: 16, description: 'during a rotation, the secret being replaced: deliveries carry a signature with each, so the receiver may switch at its own pace (use ${ENV})' })),
  }, { additionalProperties: false }), { description: 'outage notifications, signed and retried; never in the way of a login' })),
  rateLimits: Type.Optional(RateLimits),
  trustProxy: Type.Optional(Type.Union([
    Type.Boolean(),
    Type.String({ minLength: 1 }),
    Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  ], { default: false, description: 'which proxies may set X-Forwarded-For (Fastify trustProxy): false (default: the TCP peer is the client), the proxies\' addresses or CIDRs (a list, or one comma-separated string, e.g. 10.0.0.0/8), or true (trust any peer: only when nothing but the ingress can reach the listener); per-IP rate limits and logs use the client address it yields' })),
  chaos: Type.Optional(Type.Object({ enabled: Type.Boolean({ default: false, description: 'allow run-time fault injection (/admin/faults); keep false in production' }) }, { additionalProperties: false })),
}, { additionalProperties: false, $id: 'https://understudy.dev/schemas/config.json', title: 'understudy config' })

/** The config file as written (durations not yet parsed). */
export type RawConfig = Static<typeof ConfigSchema>
export type RawProvider = Static<typeof Provider>
export type RawClient = Static<typeof Client>
export type RawBreakerPolicy = Static<typeof BreakerPolicySchema>
