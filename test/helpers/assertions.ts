import type { Test } from 'tap'

/** Assertions several security tests share. */


/** A response that carries headers and maybe a redirect. */
interface Answer { status: number, headers: Headers, location?: string }

/**
 * An HTML error page shown to the user instead of a redirect: 400, no
 * Location, and the anti-framing headers every HTML page carries.
 */
export function assertErrorPage (t: Test, answer: Answer, message = 'an error page'): void {
  t.equal(answer.status, 400, `${message}: status 400`)
  t.notOk(answer.location ?? answer.headers.get('location'), `${message}: no redirect`)
  assertHtmlHeaders(t, answer, message)
}

/** The headers every HTML page carries (DESIGN §9). */
export function assertHtmlHeaders (t: Test, answer: Answer, message = 'an HTML page'): void {
  t.match(answer.headers.get('content-type'), /^text\/html/, `${message}: HTML`)
  t.match(answer.headers.get('content-security-policy'), /frame-ancestors 'none'/, `${message}: CSP frame-ancestors 'none'`)
  t.equal(answer.headers.get('x-frame-options'), 'DENY', `${message}: X-Frame-Options DENY`)
  t.equal(answer.headers.get('x-content-type-options'), 'nosniff', `${message}: nosniff`)
}
