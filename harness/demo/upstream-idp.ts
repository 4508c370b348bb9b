import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose'

/** A client registered at the demo upstream (oidc-provider client metadata). */
export interface UpstreamIdpClient {
  client_id: string
  /** Omit for a public client (PKCE only). */
  client_secret?: string
  redirect_uris: string[]
  token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | 'none'
}

export interface UpstreamIdpOptions {
  clients: UpstreamIdpClient[]
  /** How many regions (listeners) serve the one provider; default 2. */
  regions?: number
  /** Default 127.0.0.1. */
  host?: string
  /** The first region's port; region i listens on `port + i`. Default 0: free ports. */
  port?: number
  /** Default: the first region's URL. Every region serves this issuer. */
  issuer?: string
  /** Where sessions, grants and tokens are kept (an oidc-provider adapter); default: oidc-provider's in-memory LRU of 1000 entries. */
  adapter?: new (model: string) => object
  /**
   * When a user signs in (seconds), as the upstream records it: the `auth_time` of the ID tokens of that
   * session. Default: the system clock. Tests set it back to stand for a login made earlier.
   */
  loginClock?: () => number
  /**
   * Rotate the refresh token at every refresh, with reuse detection (an old one presented again ends the
   * grant), as Kakao rotates. Default: oidc-provider's policy (confidential clients rotate late in a token's life).
   */
  rotateRefreshToken?: boolean
  /** What its sign-in page calls it; default "Demo upstream". */
  title?: string
  /**
   * Prefix of its cookie names; default none (oidc-provider's own names). Cookies ignore the port,
   * so two demo upstreams on one host need different prefixes to keep their sessions apart.
   */
  cookiePrefix?: string
  /** How long an idle keep-alive connection stays open (Node's default: 5 s). A client slowed down (under valgrind) reuses connections later than its timers say. */
  keepAliveTimeoutMs?: number
}

export interface UpstreamIdpRegion { name: string, url: string }

/** A running demo upstream: one OpenID Provider reached through several regions. */
export interface UpstreamIdp {
  readonly issuer: string
  readonly regions: readonly UpstreamIdpRegion[]
  /** Stops one region's listener (its connections are cut), as an outage would. */
  stopRegion (name: string): Promise<void>
  /** Listens again on the region's port. */
  startRegion (name: string): Promise<void>
  close (): Promise<void>
}

// oidc-provider ships no type declarations; this is the slice of its API used here.
interface Grant { accountId?: string, addOIDCScope (scope: string): void, save (): Promise<string> }
interface GrantClass { new (init: { accountId: string, clientId: string }): Grant, find (id: string): Promise<Grant | undefined> }
interface Interaction { uid: string, prompt: { name: string } }
interface OidcProvider {
  callback (): (req: IncomingMessage, res: ServerResponse) => void
  interactionDetails (req: IncomingMessage, res: ServerResponse): Promise<Interaction>
  interactionFinished (req: IncomingMessage, res: ServerResponse, result: object, options?: { mergeWithLastSubmission: boolean }): Promise<void>
}
interface AuthorizationContext {
  oidc: {
    client: { clientId: string }
    session: { accountId: string, grantIdFor (clientId: string): string | undefined }
    requestParamScopes: Set<string>
    result?: { consent?: { grantId?: string } }
    provider: { Grant: GrantClass }
  }
}
interface ErrorContext { type: string, body: string, set (headers: Record<string, string>): void }
type ProviderClass = new (issuer: string, configuration: object) => OidcProvider

const REGION_NAMES = ['primary', 'secondary', 'tertiary']
const MAX_FORM_BYTES = 4096
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}

/** Starts the demo upstream: one oidc-provider instance behind N plain-http listeners on 127.0.0.1, each a "region". */
export async function startUpstreamIdp (options: UpstreamIdpOptions): Promise<UpstreamIdp> {
  const host = options.host ?? '127.0.0.1'
  let handle: RequestListener = (_req, res) => { res.writeHead(503).end() }
  const listeners = Array.from({ length: options.regions ?? 2 }, (_, i) => new RegionListener(REGION_NAMES[i] ?? `region-${i + 1}`, host, options.port ? options.port + i : 0, (req, res) => handle(req, res), options.keepAliveTimeoutMs))
  try {
    await Promise.all(listeners.map(async (listener) => listener.start()))
  } catch (err) {
    await Promise.all(listeners.map(async (listener) => listener.stop()))
    throw err
  }
  const regions = listeners.map(({ name, url }) => ({ name, url }))
  const issuer = options.issuer ?? (regions[0] as UpstreamIdpRegion).url
  const [Provider, jwks] = await Promise.all([loadProviderClass(), signingKeys()])
  const provider = quietly(() => new Provider(issuer, { ...configuration(options.clients, jwks, options.cookiePrefix ?? ''), ...(options.adapter ? { adapter: options.adapter } : {}), ...(options.rotateRefreshToken === undefined ? {} : { rotateRefreshToken: options.rotateRefreshToken }) }))
  const callback = provider.callback()
  const loginClock = options.loginClock ?? (() => Math.floor(Date.now() / 1000))
  const title = options.title ?? 'Demo upstream'
  handle = (req, res) => {
    const interaction = /^\/interaction\/([\w-]+)(\/login)?$/.exec(new URL(req.url ?? '/', 'http://localhost').pathname)
    if (interaction === null) return callback(req, res)
    respondToInteraction(provider, req, res, interaction[1] as string, interaction[2] !== undefined, loginClock, title).catch((err: unknown) => {
      if (res.headersSent) return res.destroy()
      const expired = (err as { name?: string }).name === 'SessionNotFound'
      page(res, expired ? 400 : 500, expired ? 'This login has expired. Start again from the application.' : 'Something went wrong.')
    })
  }
  const byName = (name: string): RegionListener => {
    const listener = listeners.find((candidate) => candidate.name === name)
    if (listener === undefined) throw new Error(`no region named ${name}`)
    return listener
  }
  return {
    issuer,
    regions,
    stopRegion: async (name) => byName(name).stop(),
    startRegion: async (name) => byName(name).start(),
    close: async () => { await Promise.all(listeners.map(async (listener) => listener.stop())) },
  }
}

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void

/** One region's listener: it keeps its port across a stop and a start, as a region that comes back would. */
class RegionListener {
  readonly name: string
  readonly #host: string
  readonly #listener: RequestListener
  readonly #keepAliveTimeoutMs: number | undefined
  #port: number
  #server: Server | undefined

  constructor (name: string, host: string, port: number, listener: RequestListener, keepAliveTimeoutMs?: number) {
    this.name = name
    this.#host = host
    this.#port = port
    this.#listener = listener
    this.#keepAliveTimeoutMs = keepAliveTimeoutMs
  }

  get url (): string {
    return `http://${this.#host}:${this.#port}`
  }

  async start (): Promise<void> {
    if (this.#server !== undefined) return
    const server = createServer(this.#listener)
    if (this.#keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = this.#keepAliveTimeoutMs
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#port, this.#host, () => resolve())
    })
    this.#port = (server.address() as AddressInfo).port
    this.#server = server
  }

  /** Stops listening and cuts open connections, as an outage would. */
  async stop (): Promise<void> {
    const server = this.#server
    this.#server = undefined
    if (server === undefined) return
    const closed = new Promise((resolve) => server.close(resolve))
    server.closeAllConnections()
    await closed
  }
}

function configuration (clients: UpstreamIdpClient[], jwks: { keys: JWK[] }, cookiePrefix: string): object {
  return {
    clients: clients.map((client) => ({
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: client.client_secret === undefined ? 'none' : 'client_secret_basic',
      ...client,
    })),
    jwks,
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      names: { session: `${cookiePrefix}_session`, interaction: `${cookiePrefix}_interaction`, resume: `${cookiePrefix}_interaction_resume` },
    },
    claims: { amr: null, openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256'] },
    // The claims parameter lets a client ask for auth_time and amr in the ID token (OIDC Core §5.5), as the gateway does.
    features: { devInteractions: { enabled: false }, claimsParameter: { enabled: true } },
    interactions: { url: async (_ctx: unknown, interaction: Interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => accountClaims(id) }),
    loadExistingGrant,
    // Refresh tokens without `offline_access`, as the gateway's own contract does (DESIGN §9).
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed (grant: string): boolean }) => client.grantTypeAllowed('refresh_token'),
    ttl: { AccessToken: 600, AuthorizationCode: 60, ClientCredentials: 600, IdToken: 3600, RefreshToken: 86_400, Interaction: 600, Session: 86_400, Grant: 86_400 },
    clientBasedCORS: () => false,
    renderError: async (ctx: ErrorContext, out: Record<string, unknown>) => {
      ctx.set(SECURITY_HEADERS)
      ctx.type = 'html'
      ctx.body = html('Sign-in error', `<p>${escapeHtml(String(out.error ?? 'error'))}: ${escapeHtml(String(out.error_description ?? ''))}</p>`)
    },
  }
}

/** Any login name is an account; its claims are derived from it. */
function accountClaims (id: string): Record<string, unknown> {
  return { sub: id, email: `${id}@example.com`, email_verified: true, name: id.charAt(0).toUpperCase() + id.slice(1) }
}

// Consent is implied: the demo upstream grants a registered client whatever scopes it asks for,
// so a login needs no consent screen and a test browser only has to submit the login form.
async function loadExistingGrant (ctx: AuthorizationContext): Promise<Grant> {
  const { client, session, provider } = ctx.oidc
  const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId)
  const existing = grantId === undefined ? undefined : await provider.Grant.find(grantId)
  const grant = existing?.accountId === session.accountId && existing !== undefined ? existing : new provider.Grant({ accountId: session.accountId, clientId: client.clientId })
  grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '))
  await grant.save()
  return grant
}

async function respondToInteraction (provider: OidcProvider, req: IncomingMessage, res: ServerResponse, uid: string, submitted: boolean, loginClock: () => number, title: string): Promise<void> {
  const details = await provider.interactionDetails(req, res)
  if (details.uid !== uid) return page(res, 400, 'This login belongs to another window. Start again from the application.')
  if (details.prompt.name !== 'login') {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the demo upstream only asks for a login' }, { mergeWithLastSubmission: false })
  }
  if (!submitted) return page(res, 200, loginForm(uid, title))
  if (req.method !== 'POST') return page(res, 405, 'Submit the login form.')
  const login = new URLSearchParams(await readBody(req)).get('login')?.trim() ?? ''
  if (login.length === 0 || login.length > 64) return page(res, 400, loginForm(uid, title, 'Enter a login name of at most 64 characters.'))
  // The login form is a password form, whatever is typed: amr `pwd` (RFC 8176), as a real upstream would say.
  await provider.interactionFinished(req, res, { login: { accountId: login, ts: loginClock(), amr: ['pwd'] } }, { mergeWithLastSubmission: false })
}

function loginForm (uid: string, title: string, problem?: string): string {
  return `<h1>${escapeHtml(title)} sign-in</h1>${problem === undefined ? '' : `<p class="problem">${escapeHtml(problem)}</p>`}
<p>Any login name works.</p>
<form method="post" action="/interaction/${encodeURIComponent(uid)}/login">
<label>Login <input name="login" autofocus autocomplete="username" required maxlength="64"></label>
<button type="submit">Sign in</button>
</form>`
}

function page (res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' })
  res.end(html('Demo upstream', body.startsWith('<') ? body : `<p>${escapeHtml(body)}</p>`))
}

function html (title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:16px system-ui,sans-serif;max-width:24rem;margin:4rem auto}input,button{font:inherit;padding:.4rem;margin:.4rem 0;display:block;width:100%}.problem{color:#b00}</style>
</head><body>${body}</body></html>`
}

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

async function readBody (req: IncomingMessage): Promise<string> {
  let body = ''
  for await (const chunk of req) {
    body += String(chunk)
    if (body.length > MAX_FORM_BYTES) throw new Error('login form too large')
  }
  return body
}

async function signingKeys (): Promise<{ keys: JWK[] }> {
  const keys = await Promise.all((['RS256', 'ES256'] as const).map(async (alg) => {
    const { privateKey } = await generateKeyPair(alg, { extractable: true })
    const jwk = await exportJWK(privateKey)
    return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${(await calculateJwkThumbprint(jwk)).slice(0, 12)}` }
  }))
  return { keys }
}

let providerClass: Promise<ProviderClass> | undefined

async function loadProviderClass (): Promise<ProviderClass> {
  // A non-literal specifier: the package has no type declarations, and this module supplies its own slice above.
  const specifier = 'oidc-provider'
  providerClass ??= quietly(async () => ((await import(specifier)) as { default: ProviderClass }).default)
  return providerClass
}

// oidc-provider prints development notices (an in-memory adapter, a Node.js version it prefers) on stdout and
// stderr. They are true and expected for a demo upstream, and only noise in the demo stack's JSON logs.
function quietly<T> (fn: () => T): T {
  const { warn, info } = console
  const drop = (log: (...args: unknown[]) => void) => (...args: unknown[]): void => {
    if (typeof args[0] !== 'string' || !args[0].includes('oidc-provider ')) log(...args)
  }
  console.warn = drop(warn)
  console.info = drop(info)
  const restore = (): void => { console.warn = warn; console.info = info }
  try {
    const result = fn()
    if (result instanceof Promise) return result.finally(restore) as T
    restore()
    return result
  } catch (err) {
    restore()
    throw err
  }
}
