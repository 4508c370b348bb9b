import type { Keyring } from '../keys/keyring.js'
import type { Logger } from '../log.js'
import { seal, unseal } from '../sessions/seal.js'
import type { Session } from '../sessions/session.js'
import type { Store } from '../store/store.js'
import type { Clock } from './deps.js'
import { anyRevoked } from './tombstones.js'

/** What reading a session cookie uses: the sealing keys, the clock, and the store's logout tombstones. */
export interface SessionReadDeps {
  keys: Keyring
  now: Clock
  store: Store
}

/** What sealing a session cookie uses: the sealing keys, the clock, and how long a session may serve any client. */
export interface SessionSealDeps {
  keys: Keyring
  now: Clock
  /** The longest outageMaxStaleness of any client (seconds). */
  sessionLifetime: number
}

/**
 * The session from the browser's cookie, or undefined when there is none, it
 * does not open, or it was logged out (its sid, or the backup method that made
 * it, tombstoned). While no store answers, the store's revocation check fails
 * open: losing the store logs nobody out.
 */
export async function readSession (deps: SessionReadDeps, cookie: string | undefined, log: Logger): Promise<Session | undefined> {
  if (cookie === undefined || cookie === '') return undefined
  let session: Session
  try {
    session = unseal<Session>(deps.keys, 'session', cookie, deps.now())
  } catch (err) {
    log.debug({ err }, 'session cookie ignored')
    return undefined
  }
  if (await anyRevoked(deps.store, [session.sid, session.backup?.id])) return undefined
  return session
}

/** The sealed cookie value for a session; it expires when no client could use it any more. */
export async function sealSession (deps: SessionSealDeps, session: Session): Promise<{ value: string, maxAge: number }> {
  const expiresAt = session.vouchedAt + deps.sessionLifetime
  return { value: seal(deps.keys, 'session', session, expiresAt), maxAge: Math.max(0, expiresAt - deps.now()) }
}
