// The peer: node-oidc-provider 9, configured like the gateway's flow (ES256 ID token, an access
// token per client in the format the gateway's client of that name has, refresh token on every
// code grant, PKCE), with an interaction that logs in a fixed account and grants consent at once.
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { JWK } from 'jose'
import { serve } from '../lib/child.js'
import { redisAdapter } from './peer-redis-adapter.js'

// oidc-provider ships no type declarations; this is the slice of its API used here.
interface Grant { addOIDCScope (scope: string): void, addResourceScope (resource: string, scope: string): void, save (): Promise<string> }
interface Provider {
  Grant: new (init: { accountId: string, clientId: string }) => Grant
  callback (): (req: IncomingMessage, res: ServerResponse) => void
  interactionDetails (req: IncomingMessage, res: ServerResponse): Promise<{ params: Record<string, string> }>
  interactionFinished (req: IncomingMessage, res: ServerResponse, result: object, options: { mergeWithLastSubmission: boolean }): Promise<void>
}
type ProviderClass = new (issuer: string, configuration: object) => Provider

/** The one resource server: its access tokens are ES256 JWTs (RFC 9068) or opaque, by client (see `start`). */
export const RESOURCE = 'urn:understudy:bench:api'
const ACCOUNT = 'bench-user'

let server: Server | undefined
let closeStorage: () => Promise<unknown> = async () => undefined

/**
 * The peer's storage: a Map of payloads that expire, in the peer's process.
 * oidc-provider's own dev adapter is an LRU of 1000 entries: a few seconds of
 * full flows evicted the SSO users' sessions and grants, and it rescans a
 * grant's whole token list on every token stored. This one keeps everything
 * until it expires and indexes grants in a Set. It is the cheapest storage the
 * peer can have (no serialization, no network); the peer's Redis row stores
 * through oidc-provider's example Redis adapter instead (peer-redis-adapter.ts).
 */
const entries = new Map<string, { payload: Record<string, unknown>, expiresAt: number }>()
const grantMembers = new Map<string, Set<string>>()
const sessionsByUid = new Map<string, string>()
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest'])
// Expired entries go, as Redis expires keys.
setInterval(() => {
  const now = Date.now()
  for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key)
}, 5000).unref()

class BenchAdapter {
  private readonly model: string
  constructor (model: string) {
    this.model = model
  }

  async upsert (id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
    const key = `${this.model}:${id}`
    entries.set(key, { payload, expiresAt: typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity })
    if (this.model === 'Session') sessionsByUid.set(payload.uid as string, id)
    const grantId = payload.grantId as string | undefined
    if (grantId !== undefined && GRANTABLE.has(this.model)) {
      let members = grantMembers.get(grantId)
      if (members === undefined) grantMembers.set(grantId, (members = new Set()))
      members.add(key)
    }
  }

  async find (id: string): Promise<Record<string, unknown> | undefined> {
    const key = `${this.model}:${id}`
    const entry = entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= Date.now()) {
      entries.delete(key)
      return undefined
    }
    return entry.payload
  }

  async findByUid (uid: string): Promise<Record<string, unknown> | undefined> {
    const id = sessionsByUid.get(uid)
    return id === undefined ? undefined : this.find(id)
  }

  async findByUserCode (): Promise<undefined> { return undefined }

  async consume (id: string): Promise<void> {
    const entry = entries.get(`${this.model}:${id}`)
    if (entry !== undefined) entry.payload.consumed = Math.floor(Date.now() / 1000)
  }

  async destroy (id: string): Promise<void> {
    entries.delete(`${this.model}:${id}`)
  }

  async revokeByGrantId (grantId: string): Promise<void> {
    for (const key of grantMembers.get(grantId) ?? []) entries.delete(key)
    grantMembers.delete(grantId)
  }
}

interface PeerClient { client_id: string, client_secret: string, redirect_uris: string[] }

serve({
  /**
   * `opaque`: the clients whose access tokens are opaque (oidc-provider's
   * reference tokens, stored through the adapter); the others get ES256 JWTs.
   * `redisUrl`: store through the example Redis adapter instead of the Map.
   */
  async start (payload) {
    const { signingJwks, clients, opaque, redisUrl } = payload as { signingJwks: string, clients: PeerClient[], opaque: string[], redisUrl?: string }
    const jwks = JSON.parse(await readFile(signingJwks, 'utf8')) as { keys: JWK[] }
    let adapter: new (model: string) => object = BenchAdapter
    if (redisUrl !== undefined) {
      const redis = redisAdapter(redisUrl)
      adapter = redis.Adapter
      closeStorage = async () => redis.client.quit()
    }
    server = createServer()
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const specifier = 'oidc-provider'
    const { default: Provider } = await import(specifier) as { default: ProviderClass }
    const opaqueClients = new Set(opaque)
    const provider = new Provider(issuer, {
      adapter,
      clients: clients.map((client) => ({ ...client, grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'ES256' })),
      // The same keys as the gateway; ES256 first, so it signs.
      jwks: { keys: jwks.keys.filter((k) => k.alg === 'ES256' || k.alg === 'RS256') },
      cookies: { keys: [randomBytes(32).toString('base64url')] },
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      scopes: ['openid', 'offline_access', 'email', 'profile'],
      features: {
        devInteractions: { enabled: false },
        resourceIndicators: {
          enabled: true,
          defaultResource: async () => RESOURCE,
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx: unknown, _resource: string, client: { clientId: string }) => (opaqueClients.has(client.clientId)
            ? { scope: 'api', accessTokenFormat: 'opaque', accessTokenTTL: 600 }
            : { scope: 'api', accessTokenFormat: 'jwt', accessTokenTTL: 600, jwt: { sign: { alg: 'ES256' } } }),
        },
      },
      interactions: { url: async (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
      pkce: { required: () => true },
      findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => ({ sub: id, email: `${id}@example.com`, email_verified: true, name: 'Bench User' }) }),
      // As the gateway does (DESIGN §9): a refresh token on every code grant.
      issueRefreshToken: async (_ctx: unknown, c: { grantTypeAllowed (grant: string): boolean }) => c.grantTypeAllowed('refresh_token'),
      ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 3600, RefreshToken: 30 * 86_400, Interaction: 600, Session: 7 * 86_400, Grant: 30 * 86_400 },
    })
    const callback = provider.callback()
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!req.url?.startsWith('/interaction/')) return callback(req, res)
      interact(provider, req, res).catch((err: unknown) => {
        res.writeHead(500).end(String((err as Error).message))
      })
    })
    return { issuer }
  },
}, async () => {
  server?.closeAllConnections()
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined))
  await closeStorage()
})

/** The auto-completing interaction: log in the fixed account, grant what was asked, resume. */
async function interact (provider: Provider, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { params } = await provider.interactionDetails(req, res)
  const grant = new provider.Grant({ accountId: ACCOUNT, clientId: params.client_id! })
  grant.addOIDCScope(params.scope ?? 'openid')
  grant.addResourceScope(RESOURCE, 'api')
  const grantId = await grant.save()
  await provider.interactionFinished(req, res, { login: { accountId: ACCOUNT }, consent: { grantId } }, { mergeWithLastSubmission: false })
}
