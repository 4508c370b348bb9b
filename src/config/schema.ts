import { Type, type Static } from '@sinclair/typebox'

/** The one source of truth for the config file (DESIGN §3); the types are derived from it. */

const Duration = Type.Union([
  Type.Number({ minimum: 0 }),
  Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)?\\s*$', description: 'seconds, or a string like 90s, 10m, 8h, 7d' }),
], { description: 'A duration: a number of seconds, or a string like "90s", "10m", "8h", "7d".' })

const HttpUrl = Type.String({ pattern: '^https?://[^\\s]+$', description: 'an http(s) URL' })
const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'letters, digits, _ . -' })

const Listener = Type.Object({
  host: Type.String({ default: '0.0.0.0' }),
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
  tls: Type.Optional(Type.Object({
    cert: Type.String({ description: 'path to a PEM certificate chain' }),
    key: Type.String({ description: 'path to a PEM private key' }),
  }, { additionalProperties: false })),
}, { additionalProperties: false })

export const BreakerPolicySchema = Type.Object({
  timeout: Duration,
  errorThresholdPercentage: Type.Number({ minimum: 1, maximum: 100 }),
  volumeThreshold: Type.Integer({ minimum: 0 }),
  resetTimeout: Duration,
  rollingCountTimeout: Duration,
}, { additionalProperties: false, description: 'opossum circuit breaker policy for one provider region' })

const Region = Type.Object({
  name: Id,
  url: Type.Optional(HttpUrl),
  authorizationEndpoint: Type.Optional(HttpUrl),
  tokenEndpoint: Type.Optional(HttpUrl),
  userinfoEndpoint: Type.Optional(HttpUrl),
}, { additionalProperties: false })

const Provider = Type.Object({
  id: Id,
  kind: Type.Union([Type.Literal('oidc'), Type.Literal('oauth2')]),
  issuer: Type.Optional(Type.String({ minLength: 1, description: 'expected upstream issuer (oidc); all regions share it' })),
  clientId: Type.String({ minLength: 1 }),
  clientSecret: Type.Optional(Type.String()),
  scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  tokenEndpointAuthMethod: Type.Optional(Type.Union([Type.Literal('client_secret_basic'), Type.Literal('client_secret_post')])),
  pkce: Type.Optional(Type.Boolean({ description: 'send PKCE (S256) to the upstream; default true' })),
  regions: Type.Array(Region, { minItems: 1 }),
  claims: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'claim name -> dotted path into the userinfo response' })),
  breaker: Type.Optional(Type.Partial(BreakerPolicySchema)),
  healthCheck: Type.Optional(Type.Object({ interval: Type.Optional(Duration), url: Type.Optional(HttpUrl) }, { additionalProperties: false })),
}, { additionalProperties: false })

const Freshness = Type.Object({
  maxStaleness: Type.Optional(Duration),
  outageMaxStaleness: Type.Optional(Duration),
}, { additionalProperties: false })

const Client = Type.Object({
  clientId: Type.String({ minLength: 1, maxLength: 255 }),
  clientSecret: Type.Optional(Type.String({ minLength: 1 })),
  redirectUris: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  postLogoutRedirectUris: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  providers: Type.Array(Id, { minItems: 1 }),
  freshness: Type.Optional(Freshness),
  idTokenSignedResponseAlg: Type.Optional(Type.Union([Type.Literal('ES256'), Type.Literal('RS256'), Type.Literal('EdDSA')])),
}, { additionalProperties: false })

const RedisNode = Type.Object({ host: Type.String(), port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false })

const Store = Type.Object({
  kind: Type.Union([Type.Literal('memory'), Type.Literal('redis')], { default: 'memory' }),
  redis: Type.Optional(Type.Object({
    url: Type.Optional(Type.String({ pattern: '^rediss?://' })),
    sentinels: Type.Optional(Type.Array(RedisNode, { minItems: 1 })),
    name: Type.Optional(Type.String()),
    cluster: Type.Optional(Type.Array(Type.String({ pattern: '^rediss?://' }), { minItems: 1 })),
    peers: Type.Optional(Type.Array(Type.String({ pattern: '^rediss?://' }))),
    keyPrefix: Type.Optional(Type.String({ description: 'prepended to every key; default understudy:' })),
    commandTimeout: Type.Optional(Duration),
    connectTimeout: Type.Optional(Duration),
    peerTimeout: Type.Optional(Duration),
    peerQueueLimit: Type.Optional(Type.Integer({ minimum: 1, description: 'writes queued per unreachable peer before the oldest is dropped; default 10000' })),
  }, { additionalProperties: false })),
  revocationFailOpen: Type.Optional(Duration),
}, { additionalProperties: false })

export const ConfigSchema = Type.Object({
  issuer: Type.String({ pattern: '^https?://[^\\s?#]+$', description: 'public issuer URL; same in every region; no query or fragment' }),
  region: Type.String({ minLength: 1, default: 'local' }),
  listen: Type.Optional(Listener),
  admin: Type.Optional(Type.Object({
    host: Type.String({ default: '127.0.0.1' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 9090 }),
    token: Type.Optional(Type.String()),
  }, { additionalProperties: false })),
  keys: Type.Object({
    signing: Type.String({ minLength: 1, description: 'path to a private JWK Set' }),
    sealing: Type.String({ minLength: 1, description: 'path to a JWK Set of 256-bit oct keys' }),
  }, { additionalProperties: false }),
  store: Type.Optional(Store),
  providers: Type.Array(Provider, { minItems: 1 }),
  clients: Type.Array(Client, { minItems: 1 }),
  sessions: Type.Optional(Freshness),
  tokens: Type.Optional(Type.Object({
    idToken: Type.Optional(Duration),
    accessToken: Type.Optional(Duration),
    refreshToken: Type.Optional(Duration),
    degraded: Type.Optional(Duration),
    code: Type.Optional(Duration),
  }, { additionalProperties: false })),
  shutdown: Type.Optional(Type.Object({
    drainDelay: Type.Optional(Duration),
  }, { additionalProperties: false, description: 'on SIGTERM, /readyz answers 503 for drainDelay before the listeners close, so load balancers stop sending traffic first' })),
  webhooks: Type.Optional(Type.Array(Type.Object({
    url: HttpUrl,
    events: Type.Array(Type.Union([Type.Literal('provider.degraded'), Type.Literal('provider.recovered'), Type.Literal('region.open'), Type.Literal('region.closed')]), { minItems: 1, uniqueItems: true }),
    secret: Type.String({ minLength: 16, description: 'HMAC-SHA256 key for the understudy-signature header' }),
  }, { additionalProperties: false }), { description: 'outage notifications, signed and retried; never in the way of a login' })),
  chaos: Type.Optional(Type.Object({ enabled: Type.Boolean({ default: false }) }, { additionalProperties: false })),
}, { additionalProperties: false, $id: 'https://understudy.dev/schemas/config.json', title: 'understudy config' })

/** The config file as written (durations not yet parsed). */
export type RawConfig = Static<typeof ConfigSchema>
export type RawProvider = Static<typeof Provider>
export type RawClient = Static<typeof Client>
export type RawBreakerPolicy = Static<typeof BreakerPolicySchema>
