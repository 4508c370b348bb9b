import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { acrLegend, idTokenTable } from './id-token-view.js'

/** Upstream region switches the demo page offers, so a newcomer can stage an outage. */
export interface RegionControls {
  list (): Array<{ name: string, url: string, up: boolean }>
  toggle (name: string): Promise<void>
}

export interface DemoRelyingParty {
  url: string
  close (): Promise<void>
}

interface BrowserState {
  pending?: { state: string, nonce: string, verifier: string }
  tokens?: { idToken: string, accessToken: string, refreshToken?: string, claims: Record<string, unknown> }
  userinfo?: Record<string, unknown>
  message?: string
}

const CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'"

export interface DemoRelyingPartyOptions {
  issuer: string
  clientId: string
  clientSecret: string
  port: number
  /** Where it listens; default 127.0.0.1. */
  host?: string
  /** The host name in its own URLs (its redirect URI); default `host`. */
  hostname?: string
  /** The gateway's account page (passkeys, linked providers), linked from the page when backup login is on. */
  accountUrl?: string
  controls?: RegionControls
}

/**
 * A small relying party that logs in through the gateway with openid-client
 * (code + PKCE), shows the ID token's truth (sub, acr, amr, auth_time, each
 * explained) and offers refresh, userinfo and logout; optionally the
 * upstream region switches.
 */
export async function startDemoRelyingParty (options: DemoRelyingPartyOptions): Promise<DemoRelyingParty> {
  const oidc = await import('openid-client')
  const host = options.host ?? '127.0.0.1'
  const base = `http://${options.hostname ?? host}:${options.port}`
  const redirectUri = `${base}/callback`
  let config: Awaited<ReturnType<typeof oidc.discovery>> | undefined
  const discover = async () => {
    config ??= await oidc.discovery(new URL(options.issuer), options.clientId, options.clientSecret, undefined, { execute: [oidc.allowInsecureRequests] })
    return config
  }
  const browsers = new Map<string, BrowserState>()

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      const state = browserOf(req, res)
      state.message = `Error: ${err.message}`
      redirect(res, '/')
    })
  })

  function browserOf (req: IncomingMessage, res: ServerResponse): BrowserState {
    const id = /(?:^|;\s*)demo_rp=([A-Za-z0-9_-]+)/.exec(req.headers.cookie ?? '')?.[1]
    if (id && browsers.has(id)) return browsers.get(id)!
    const fresh = randomBytes(16).toString('base64url')
    res.setHeader('set-cookie', `demo_rp=${fresh}; Path=/; HttpOnly; SameSite=Lax`)
    const state: BrowserState = {}
    browsers.set(fresh, state)
    return state
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base)
    const state = browserOf(req, res)
    const post = req.method === 'POST'
    if (url.pathname === '/' && !post) return page(res, state, options)
    if (url.pathname === '/login' && post) {
      const cfg = await discover()
      const verifier = oidc.randomPKCECodeVerifier()
      state.pending = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier }
      const params: Record<string, string> = {
        redirect_uri: redirectUri,
        scope: 'openid profile email',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: state.pending.state,
        nonce: state.pending.nonce,
      }
      if (url.searchParams.get('prompt') === 'login') params.prompt = 'login'
      return redirect(res, oidc.buildAuthorizationUrl(cfg, params).href)
    }
    if (url.pathname === '/callback') {
      const cfg = await discover()
      const pending = state.pending
      delete state.pending
      if (url.searchParams.has('error')) {
        state.message = `The gateway answered ${url.searchParams.get('error')}: ${url.searchParams.get('error_description') ?? ''}`
        return redirect(res, '/')
      }
      if (!pending) throw new Error('no login in progress')
      const tokens = await oidc.authorizationCodeGrant(cfg, url, { pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce })
      state.tokens = { idToken: tokens.id_token!, accessToken: tokens.access_token, ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}), claims: { ...tokens.claims() } }
      state.userinfo = undefined
      state.message = 'Logged in.'
      return redirect(res, '/')
    }
    if (url.pathname === '/refresh' && post && state.tokens?.refreshToken) {
      const tokens = await oidc.refreshTokenGrant(await discover(), state.tokens.refreshToken)
      state.tokens = { idToken: tokens.id_token ?? state.tokens.idToken, accessToken: tokens.access_token, ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}), claims: { ...(tokens.claims() ?? state.tokens.claims) } }
      state.message = 'Tokens refreshed.'
      return redirect(res, '/')
    }
    if (url.pathname === '/userinfo' && post && state.tokens) {
      state.userinfo = await oidc.fetchUserInfo(await discover(), state.tokens.accessToken, String(state.tokens.claims.sub)) as Record<string, unknown>
      return redirect(res, '/')
    }
    if (url.pathname === '/logout' && post) {
      const idToken = state.tokens?.idToken
      delete state.tokens
      delete state.userinfo
      state.message = 'Logged out.'
      if (!idToken) return redirect(res, '/')
      return redirect(res, oidc.buildEndSessionUrl(await discover(), { id_token_hint: idToken, post_logout_redirect_uri: `${base}/` }).href)
    }
    const region = /^\/regions\/([A-Za-z0-9_.-]+)\/toggle$/.exec(url.pathname)
    if (region && post && options.controls) {
      await options.controls.toggle(region[1]!)
      return redirect(res, '/')
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://${options.hostname ?? host}:${port}/`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}

function redirect (res: ServerResponse, location: string): void {
  res.writeHead(303, { location, 'cache-control': 'no-store' }).end()
}

function esc (value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function page (res: ServerResponse, state: BrowserState, options: Pick<DemoRelyingPartyOptions, 'controls' | 'accountUrl'>): void {
  const claims = state.tokens?.claims
  const { controls, accountUrl } = options
  const regions = controls
    ? `<h2>Upstream regions</h2><p>Stop a region to stage an outage; a logged-in user keeps logging in.</p><ul>${controls.list().map((r) => `<li><form method="post" action="/regions/${esc(r.name)}/toggle"><b>${esc(r.name)}</b> <code>${esc(r.url)}</code> is ${r.up ? 'up' : '<b>down</b>'} <button>${r.up ? 'Stop' : 'Start'}</button></form></li>`).join('')}</ul>`
    : ''
  const account = accountUrl ? `<p>Passkeys and linked providers: <a href="${esc(accountUrl)}">how you log in</a>, on the gateway.</p>` : ''
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>understudy demo site</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}th{text-align:left;padding-right:1rem;vertical-align:top}td{padding-bottom:.4rem}small{color:#555}dd{margin:0 0 .5rem 1.5rem}form{display:inline}button{margin:.25rem}.msg{background:#eef;padding:.5rem}</style></head>
<body><h1>Demo site</h1><p>This site logs its users in through the understudy gateway.</p>
${state.message ? `<p class="msg">${esc(state.message)}</p>` : ''}
${claims ? `<h2>ID token</h2>${idTokenTable(claims, Math.floor(Date.now() / 1000))}` : '<p>You are not logged in.</p>'}
<p><form method="post" action="/login"><button>Log in</button></form><form method="post" action="/login?prompt=login"><button>Log in again at the provider</button></form>
${state.tokens ? '<form method="post" action="/refresh"><button>Refresh tokens</button></form><form method="post" action="/userinfo"><button>Call userinfo</button></form><form method="post" action="/logout"><button>Log out</button></form>' : ''}</p>
${account}
${state.userinfo ? `<h2>Userinfo</h2><pre>${esc(JSON.stringify(state.userinfo, null, 2))}</pre>` : ''}
${regions}
<h2>What <code>acr</code> says</h2>${acrLegend()}</body></html>`
  delete state.message
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP, 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' }).end(html)
}
