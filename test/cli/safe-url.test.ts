import t from 'tap'
import { safeUrl } from '../../src/cli/logger.js'

/** safeUrl as it was written first, through URLSearchParams: the reference the fast reading must agree with. */
function reference (url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const params = new URLSearchParams(url.slice(q + 1))
  const secret = /^(code|state|nonce|id_token_hint|access_token|refresh_token|token|client_secret|code_verifier|login_hint|session_state|iss)$/i
  const shown = [...params.keys()].map((k) => (secret.test(k) ? `${k}=[redacted]` : `${k}=${params.get(k)?.slice(0, 64)}`))
  return `${url.slice(0, q)}?${shown.join('&')}`
}

t.test('masks secrets and shows parameters as URLSearchParams reads them', async (t) => {
  const cases = [
    '/authorize', '/authorize?', '/authorize?&&', '/a?client_id=shop&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fcb&state=s3cr3t&nonce=n&code_challenge=abc',
    '/a?a=1&a=2&b', '/a?x+y=1+2&CODE=x', '/a?q=%E2%82%AC', '/a?q=%E2%82', '/a?q=%zz&code=1', '/a?q=é&state=1', '/a?=v&=w',
    `/a?long=${'x'.repeat(100)}&s=%F0%9F%98%80${'y'.repeat(70)}`, '/callback/idp?code=abc&state=def&iss=http%3A%2F%2Fidp',
  ]
  for (const url of cases) t.equal(safeUrl(url), reference(url), url)
  t.equal(safeUrl('/callback/idp?code=abc&state=def'), '/callback/idp?code=[redacted]&state=[redacted]')
})

t.test('agrees with URLSearchParams on random queries', async (t) => {
  const alphabet = ['a', 'b', '=', '&', '+', '%', '2', 'B', 'e', 'F', '8', '0', 'C', 'z', 'é', '€', '%E2', '%82', '%AC', '%20', '%2b', '%3D', '%26', '%ZZ', 'code', 'state', '?']
  let seed = 7
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed % n
  }
  let differ = 0
  for (let i = 0; i < 20_000; i++) {
    let url = '/p?'
    for (let n = random(24); n > 0; n--) url += alphabet[random(alphabet.length)]
    if (safeUrl(url) !== reference(url)) differ++
  }
  t.equal(differ, 0)
})
