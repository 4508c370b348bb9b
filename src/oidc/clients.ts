import { hash, timingSafeEqual } from 'node:crypto'
import type { ClientConfig } from '../config/resolve.js'
import { OAuthError } from './errors.js'
import { Params } from './params.js'

/** A registered relying party, with the secret digest kept for constant-time comparison. */
export interface Client extends ClientConfig {
  readonly public: boolean
}

/** The registered clients, and client authentication at the token, revocation and introspection endpoints. */
export class ClientRegistry {
  readonly #clients: Map<string, Client>
  readonly #digests = new Map<string, Buffer>()

  constructor (clients: ClientConfig[]) {
    this.#clients = new Map(clients.map((c) => [c.clientId, { ...c, public: c.clientSecret === undefined }]))
    for (const c of clients) if (c.clientSecret !== undefined) this.#digests.set(c.clientId, digest(c.clientSecret))
  }

  /** The client with this id, if registered. */
  get (clientId: string | undefined): Client | undefined {
    return clientId === undefined ? undefined : this.#clients.get(clientId)
  }

  /**
   * Authenticates the client of a back-channel request: client_secret_basic,
   * client_secret_post, or `none` for a public client. Exactly one method may be used.
   */
  authenticate (authorization: string | undefined, params: Params): Client {
    const basic = parseBasic(authorization)
    const postId = params.get('client_id')
    const postSecret = params.get('client_secret')
    if (basic && postSecret !== undefined) throw new OAuthError('invalid_request', 'more than one client authentication method was used')
    if (basic && postId !== undefined && postId !== basic.id) throw new OAuthError('invalid_request', 'client_id does not match the authenticated client')
    const id = basic?.id ?? postId
    const secret = basic?.secret ?? postSecret
    const challenge = basic ? { challenge: 'Basic' as const } : {}
    const client = this.get(id)
    if (id === undefined) throw new OAuthError('invalid_client', 'client authentication is required', { challenge: 'Basic' })
    if (!client) throw new OAuthError('invalid_client', 'unknown client', challenge)
    if (client.public) {
      if (secret !== undefined) throw new OAuthError('invalid_client', 'a public client has no secret', challenge)
      return client
    }
    if (secret === undefined) throw new OAuthError('invalid_client', 'client authentication failed', { challenge: 'Basic' })
    if (!timingSafeEqual(digest(secret), this.#digests.get(client.clientId)!)) throw new OAuthError('invalid_client', 'client authentication failed', challenge)
    return client
  }
}

function digest (secret: string): Buffer {
  return hash('sha256', secret, 'buffer')
}

/** Parses `Authorization: Basic` with form-urlencoded id and secret (RFC 6749 §2.3.1). */
function parseBasic (header: string | undefined): { id: string, secret: string } | undefined {
  if (header === undefined) return undefined
  const match = /^basic +([A-Za-z0-9+/=._~-]+)$/i.exec(header.trim())
  if (!match) {
    if (/^basic\b/i.test(header.trim())) throw new OAuthError('invalid_client', 'malformed Basic credentials', { challenge: 'Basic' })
    return undefined
  }
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) throw new OAuthError('invalid_client', 'malformed Basic credentials', { challenge: 'Basic' })
  try {
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) }
  } catch {
    throw new OAuthError('invalid_client', 'malformed Basic credentials', { challenge: 'Basic' })
  }
}

function formDecode (value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '))
}
