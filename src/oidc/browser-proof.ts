import { hash, timingSafeEqual } from 'node:crypto'

/**
 * A proof that a form or request came from the gateway's own page in this
 * browser: derived from the sealed session cookie, which no other site can
 * read, so a page elsewhere cannot forge it (a CSRF token bound to the
 * session). `purpose` keeps one page's proof from serving another.
 */
export function browserProof (sessionCookie: string, purpose: string): string {
  return hash('sha256', `understudy ${purpose}\u0000${sessionCookie}`, 'base64url')
}

/** Whether `given` is `expected`, in constant time. */
export function proofMatches (given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}
