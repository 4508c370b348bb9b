import type { Gateway } from '../gateway.js'
import type { Logger } from '../log.js'
import { seal, unseal } from '../sessions/seal.js'
import type { Session } from '../sessions/session.js'

/**
 * The session from the browser's cookie, or undefined when there is none, it
 * does not open, or it was logged out. A revocation check that cannot reach
 * the store lets the session through (fail-open: the store never logs anyone out).
 */
export async function readSession (gw: Gateway, cookie: string | undefined, log: Logger): Promise<Session | undefined> {
  if (cookie === undefined || cookie === '') return undefined
  let session: Session
  try {
    session = unseal<Session>(gw.keys, 'session', cookie, gw.now())
  } catch (err) {
    log.debug({ err }, 'session cookie ignored')
    return undefined
  }
  try {
    if (await gw.store.isRevoked(session.sid)) return undefined
  } catch (err) {
    log.warn({ err, store: gw.store.name }, 'session revocation check failed; allowing the session')
  }
  return session
}

/** The sealed cookie value for a session; it expires when no client could use it any more. */
export async function sealSession (gw: Gateway, session: Session): Promise<{ value: string, maxAge: number }> {
  const expiresAt = session.vouchedAt + gw.sessionLifetime
  return { value: seal(gw.keys, 'session', session, expiresAt), maxAge: Math.max(0, expiresAt - gw.now()) }
}
