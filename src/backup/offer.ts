import type { Logger } from '../log.js'
import type { Session } from '../sessions/session.js'
import { within, type BackupDeps } from './deps.js'

/**
 * The longest an upstream login waits on the directory to decide whether to
 * offer a backup method (ms): the offer is a nicety, the login is not, so a
 * slow or dead directory costs at most this and no offer.
 */
export const OFFER_READ_MS = 250

/**
 * Whether to offer a backup method to the user who just logged in at the
 * upstream: offers are on, the user has no link and no passkey, and has not
 * said "Not now" within offerEvery. Fails open: any directory trouble means no
 * offer, never a slower or failed login.
 */
export async function shouldOffer (backup: BackupDeps | undefined, session: Session, now: number, log: Logger): Promise<boolean> {
  if (backup === undefined || backup.policy.offer !== 'after-login' || !backup.policy.passkeys) return false
  if (session.backup !== undefined) return false
  try {
    const identity = await within(backup.directory.identity(session.sub), OFFER_READ_MS)
    if (identity === undefined) return true
    if (identity.links.length > 0 || identity.passkeys.length > 0) return false
    return (identity.offerDeclinedUntil ?? 0) <= now
  } catch (err) {
    log.warn({ err, provider: session.provider }, 'directory did not answer in time; no backup-method offer after this login')
    return false
  }
}
