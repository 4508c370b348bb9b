import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A Naver-like OAuth 2.0 provider on 127.0.0.1 for connector tests: no real
 * peer can stand in for Naver, so this is the one fake. It logs every browser
 * straight in as `profile` (no login page), and records what reached its token endpoint.
 */
export interface FakeOAuth2 {
  url: string
  authorizationEndpoint: string
  tokenEndpoint: string
  userinfoEndpoint: string
  /** What userinfo answers inside `response` for the codes issued from now on. */
  profile: Record<string, unknown>
  /** Every token request: its headers and form fields. */
  readonly tokenRequests: Array<{ headers: IncomingMessage['headers'], form: Record<string, string> }>
  close (): Promise<void>
}

interface IssuedCode { clientId: string, redirectUri: string, challenge?: string, profile: Record<string, unknown> }

/** Starts the fake provider for one client. */
export async function startFakeOAuth2 (client: { clientId: string, clientSecret: string }, profile: Record<string, unknown> = { id: 'naver-1', email: 'alice@example.com', nickname: 'Alice' }): Promise<FakeOAuth2> {
  const codes = new Map<string, IssuedCode>()
  const tokens = new Map<string, Record<string, unknown>>()
  const fake = { profile, tokenRequests: [] as FakeOAuth2['tokenRequests'] }

  const authorize = (url: URL, res: ServerResponse): void => {
    const q = url.searchParams
    const redirectUri = q.get('redirect_uri') ?? ''
    if (q.get('client_id') !== client.clientId || q.get('response_type') !== 'code' || !redirectUri) return json(res, 400, { error: 'invalid_request' })
    const code = randomBytes(16).toString('base64url')
    const challenge = q.get('code_challenge') ?? undefined
    if (challenge !== undefined && q.get('code_challenge_method') !== 'S256') return json(res, 400, { error: 'invalid_request' })
    codes.set(code, { clientId: client.clientId, redirectUri, challenge, profile: structuredClone(fake.profile) })
    const target = new URL(redirectUri)
    target.searchParams.set('code', code)
    target.searchParams.set('state', q.get('state') ?? '')
    res.writeHead(302, { location: target.href }).end()
  }

  const token = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const form = Object.fromEntries(new URLSearchParams(await readBody(req)))
    fake.tokenRequests.push({ headers: req.headers, form })
    const [id, secret] = basicCredentials(req.headers.authorization) ?? [form.client_id, form.client_secret]
    if (id !== client.clientId || secret !== client.clientSecret) return json(res, 401, { error: 'invalid_client' })
    const issued = codes.get(form.code ?? '')
    codes.delete(form.code ?? '')
    if (form.grant_type !== 'authorization_code' || issued === undefined || issued.redirectUri !== form.redirect_uri) return json(res, 400, { error: 'invalid_grant' })
    if (issued.challenge !== undefined && createHash('sha256').update(form.code_verifier ?? '').digest('base64url') !== issued.challenge) {
      return json(res, 400, { error: 'invalid_grant', error_description: 'code_verifier does not match' })
    }
    const accessToken = randomBytes(16).toString('base64url')
    tokens.set(accessToken, issued.profile)
    json(res, 200, { access_token: accessToken, refresh_token: randomBytes(16).toString('base64url'), token_type: 'bearer', expires_in: '3600' })
  }

  const userinfo = (req: IncomingMessage, res: ServerResponse): void => {
    const profile = tokens.get(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '')
    if (profile === undefined) return json(res, 401, { resultcode: '024', message: 'Authentication failed' })
    json(res, 200, { resultcode: '00', message: 'success', response: profile })
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (req.method === 'GET' && url.pathname === '/oauth2.0/authorize') return authorize(url, res)
    if (req.method === 'POST' && url.pathname === '/oauth2.0/token') return void token(req, res).catch(() => json(res, 500, {}))
    if (req.method === 'GET' && url.pathname === '/v1/nid/me') return userinfo(req, res)
    json(res, 404, { error: 'not_found' })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return Object.assign(fake, {
    url: base,
    authorizationEndpoint: `${base}/oauth2.0/authorize`,
    tokenEndpoint: `${base}/oauth2.0/token`,
    userinfoEndpoint: `${base}/v1/nid/me`,
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve))
      server.closeAllConnections()
      await closed
    },
  })
}

function basicCredentials (header: string | undefined): [string, string] | undefined {
  const encoded = /^Basic (.+)$/i.exec(header ?? '')?.[1]
  if (encoded === undefined) return undefined
  const [id = '', secret = ''] = Buffer.from(encoded, 'base64').toString().split(':').map((part) => decodeURIComponent(part.replace(/\+/g, '%20')))
  return [id, secret]
}

function json (res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json;charset=utf-8' }).end(JSON.stringify(body))
}

async function readBody (req: IncomingMessage): Promise<string> {
  let body = ''
  for await (const chunk of req) body += String(chunk)
  return body
}

/**
 * The gateway's provider config for `fake` as Naver is configured: plain OAuth 2.0 as client
 * `understudy` (secret `naver-secret`), the profile under `response`, and Naver's parameter
 * for a new login (a link needs one made for it).
 */
export function naverProvider (fake: FakeOAuth2) {
  return {
    id: 'naver',
    kind: 'oauth2' as const,
    clientId: 'understudy',
    clientSecret: 'naver-secret',
    regions: [{ name: 'only', authorizationEndpoint: fake.authorizationEndpoint, tokenEndpoint: fake.tokenEndpoint, userinfoEndpoint: fake.userinfoEndpoint }],
    claims: { sub: 'response.id', name: 'response.nickname' },
    reauthenticate: { auth_type: 'reauthenticate' },
    healthCheck: { interval: 3600 },
  }
}
