import t from 'tap'
import { Browser } from '../../harness/browser.js'
import { dataOf, formWith, hasElement, startBackupStack } from '../helpers/backup-http.js'
import { authorizeUrl, startStack } from '../helpers/stack.js'

// A passkey beside the provider while it is up, and an authorize budget of two per route and address.
const s = await startBackupStack({
  config: {
    backupLogin: { passkeyWhenHealthy: true },
    rateLimits: { enabled: true, authorize: { max: 2, window: '1h' } },
  },
})
t.teardown(() => s.close())
const { issuer } = s

t.test('with passkeyWhenHealthy, a login while the provider is up offers it or a passkey', async (t) => {
  const browser = new Browser()
  const page = await browser.fetch(authorizeUrl(issuer, 'shop'))
  t.equal(page.status, 200)
  t.match(page.text, '<h1>Log in to shop</h1>')
  t.match(page.text, /<button type="submit" id="continue-upstream">Continue with idp<\/button>/)
  t.match(page.text, /<button type="button" id="passkey-login"[^>]*>Log in with a passkey<\/button>/)
  t.notOk(hasElement(page.text, 'back-to-site'), 'nothing is down: no way back is needed')
  const upstream = await browser.fetch(formWith(page.text, page.url, 'continue-upstream').action, { method: 'POST', body: formWith(page.text, page.url, 'continue-upstream').fields })
  t.equal(upstream.status, 303)
  t.match(upstream.location, s.upstream.issuer, 'the upstream login the request would have started')
})

t.test('the backup routes that cost the upstream or the directory spend the address\'s authorize budget, each its own', async (t) => {
  const browser = new Browser()
  const page = await browser.fetch(authorizeUrl(issuer, 'shop'))
  const { context } = dataOf(page.text, 'passkey-login')
  const json = { 'content-type': 'application/json' }
  const statuses = async (path: string, init: { body: string | URLSearchParams, headers?: Record<string, string> }) => {
    const answers = []
    for (let i = 0; i < 3; i++) answers.push(await browser.fetch(`${issuer}${path}`, { method: 'POST', ...init }))
    return answers
  }
  // /backup/upstream spent one already in the test before.
  const upstream = await statuses('/backup/upstream', { body: new URLSearchParams({ context: context! }) })
  t.same(upstream.map((a) => a.status), [303, 429, 429])
  t.match(upstream[1]!.headers.get('content-type'), /^text\/html/, 'a page for a form')
  t.ok(Number(upstream[1]!.headers.get('retry-after')) > 0)
  const login = await statuses('/account/login', { body: new URLSearchParams({ provider: 'idp' }) })
  t.same(login.map((a) => a.status), [303, 303, 429])
  const passkey = await statuses('/backup/passkey/login', { body: JSON.stringify({ context }), headers: json })
  t.same(passkey.map((a) => a.status), [400, 400, 429])
  t.equal(JSON.parse(passkey[2]!.text).error, 'invalid_request', 'JSON for the page script')
  const options = await statuses('/backup/passkey/options', { body: JSON.stringify({ context }), headers: json })
  t.same(options.map((a) => a.status), [200, 200, 200], 'starting a ceremony costs nothing')
})

t.test('without backupLogin there is no account page and no backup route', async (t) => {
  const off = await startStack()
  t.teardown(() => off.close())
  const account = await fetch(`${off.issuer}/account`)
  t.equal(account.status, 404)
  t.match(account.headers.get('content-type'), /^text\/html/)
  t.match(await account.text(), 'Backup login is not enabled on this gateway')
  for (const [method, path] of [['GET', '/backup/backup.js'], ['GET', '/backup/webauthn.js'], ['POST', '/backup/passkey/login'], ['POST', '/account/passkeys']] as const) {
    t.equal((await fetch(`${off.issuer}${path}`, { method })).status, 404, `${method} ${path}`)
  }
})
