import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'

/**
 * An OpenID Provider on 127.0.0.1 that misbehaves on demand: a real peer
 * (oidc-provider) never signs with `none` or skips PKCE, so the upstream
 * attacks on the gateway need this one fake. Honest by default: RS256 ID
 * tokens from its JWKS, PKCE checked, `iss` on every authorization response.
 * Every browser is logged straight in as `mallory`.
 */

/** How the ID token is forged: unsigned, HS256 keyed with the public key, signed by an attacker key named by `jku`, or signed by the attacker with the real kid. */
export type Forgery = 'none' | 'hs256-with-public-key' | 'jku' | 'attacker-key'

export interface HostileOidc {
  readonly issuer: string
  readonly url: string
  readonly clientId: string
  readonly clientSecret: string
  /** How the next ID tokens are made; undefined: honestly. */
  forgery: Forgery | undefined
  /** Whether the token endpoint checks the PKCE verifier (a sloppy upstream does not). */
  checkPkce: boolean
  /** Every authorization request's query, in order. */
  readonly authorizeRequests: URLSearchParams[]
  /** Every token request's form, in order. */
  readonly tokenRequests: Array<Record<string, string>>
  /** How often the attacker JWKS named by a `jku` header was fetched. */
  readonly jkuFetches: () => number
  close (): Promise<void>
}

interface IssuedCode { nonce?: string, challenge?: string, redirectUri: string }

/** Starts the hostile provider for one client. */
export async function startHostileOidc (client = { clientId: 'understudy', clientSecret: 'evil-secret' }): Promise<HostileOidc> {
  const honest = await keyPair('hostile-1')
  const attacker = await keyPair('attacker-1')
  const codes = new Map<string, IssuedCode>()
  let jkuFetches = 0
  let base = ''
  const fake = {
    ...client,
    forgery: undefined as Forgery | undefined,
    checkPkce: true,
    authorizeRequests: [] as URLSearchParams[],
    tokenRequests: [] as Array<Record<string, string>>,
  }

  const discovery = () => ({
    issuer: base,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    jwks_uri: `${base}/jwks`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
  })

  const authorize = (query: URLSearchParams, res: ServerResponse): void => {
    fake.authorizeRequests.push(query)
    const redirectUri = query.get('redirect_uri') ?? ''
    if (query.get('client_id') !== client.clientId || !/^https?:\/\//.test(redirectUri)) return json(res, 400, { error: 'invalid_request' })
    const code = randomBytes(16).toString('base64url')
    codes.set(code, { redirectUri, ...optional('nonce', query.get('nonce')), ...optional('challenge', query.get('code_challenge')) })
    const target = new URL(redirectUri)
    target.searchParams.set('code', code)
    target.searchParams.set('state', query.get('state') ?? '')
    target.searchParams.set('iss', base)
    res.writeHead(302, { location: target.href }).end()
  }

  const token = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const form = Object.fromEntries(new URLSearchParams(await readBody(req)))
    fake.tokenRequests.push(form)
    const [id, secret] = basicCredentials(req.headers.authorization) ?? [form.client_id, form.client_secret]
    if (id !== client.clientId || secret !== client.clientSecret) return json(res, 401, { error: 'invalid_client' })
    const issued = codes.get(form.code ?? '')
    codes.delete(form.code ?? '')
    if (form.grant_type !== 'authorization_code' || issued === undefined || issued.redirectUri !== form.redirect_uri) return json(res, 400, { error: 'invalid_grant' })
    if (fake.checkPkce && issued.challenge !== undefined && createHash('sha256').update(form.code_verifier ?? '').digest('base64url') !== issued.challenge) {
      return json(res, 400, { error: 'invalid_grant', error_description: 'PKCE verification failed' })
    }
    const now = Math.floor(Date.now() / 1000)
    const claims: JWTPayload = { iss: base, aud: client.clientId, sub: 'mallory', iat: now, exp: now + 300, ...optional('nonce', issued.nonce) }
    json(res, 200, { access_token: randomBytes(16).toString('base64url'), token_type: 'Bearer', expires_in: 300, id_token: await idToken(claims, fake.forgery) })
  }

  const idToken = async (claims: JWTPayload, forgery: Forgery | undefined): Promise<string> => {
    switch (forgery) {
      case 'none':
        return `${b64(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64(JSON.stringify(claims))}.`
      case 'hs256-with-public-key':
        return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: honest.kid }).sign(new TextEncoder().encode(await exportSPKI(honest.publicKey)))
      case 'jku':
        return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: attacker.kid, jku: `${base}/attacker-jwks` }).sign(attacker.privateKey)
      case 'attacker-key':
        return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: honest.kid }).sign(attacker.privateKey)
      default:
        return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: honest.kid }).sign(honest.privateKey)
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') return json(res, 200, discovery())
    if (req.method === 'GET' && url.pathname === '/jwks') return json(res, 200, { keys: [honest.publicJwk] })
    if (req.method === 'GET' && url.pathname === '/attacker-jwks') {
      jkuFetches++
      return json(res, 200, { keys: [attacker.publicJwk] })
    }
    if (req.method === 'GET' && url.pathname === '/authorize') return authorize(url.searchParams, res)
    if (req.method === 'POST' && url.pathname === '/token') return void token(req, res).catch(() => json(res, 500, {}))
    json(res, 404, { error: 'not_found' })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return Object.assign(fake, {
    issuer: base,
    url: base,
    jkuFetches: () => jkuFetches,
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve))
      server.closeAllConnections()
      await closed
    },
  })
}

async function keyPair (kid: string): Promise<{ kid: string, privateKey: CryptoKey, publicKey: CryptoKey, publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  return { kid, privateKey, publicKey, publicJwk: { ...await exportJWK(publicKey), kid, alg: 'RS256', use: 'sig' } }
}

function optional<K extends string> (name: K, value: string | null | undefined): Partial<Record<K, string>> {
  return value === null || value === undefined ? {} : { [name]: value } as Record<K, string>
}

function b64 (text: string): string {
  return Buffer.from(text).toString('base64url')
}

function basicCredentials (header: string | undefined): [string, string] | undefined {
  const encoded = /^Basic (.+)$/i.exec(header ?? '')?.[1]
  if (encoded === undefined) return undefined
  const [id = '', secret = ''] = Buffer.from(encoded, 'base64').toString().split(':').map((part) => decodeURIComponent(part.replace(/\+/g, '%20')))
  return [id, secret]
}

function json (res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json;charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(body))
}

async function readBody (req: IncomingMessage): Promise<string> {
  let body = ''
  for await (const chunk of req) body += String(chunk)
  return body
}
