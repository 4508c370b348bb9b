import type { BackupLoginConfig } from '../config/resolve.js'
import type { Directory } from '../directory/directory.js'
import type { RelyingParty } from './passkeys.js'

/** What backup login uses (DESIGN §10): the directory (guarded: it fails fast while down) and the backupLogin policy. Absent when backup login is off. */
export interface BackupDeps {
  directory: Directory
  policy: BackupLoginConfig
  /** The WebAuthn relying party: the issuer's host and origin. */
  rp: RelyingParty
}

/** Waits for `work` at most `ms`; past it the caller goes on without the answer (the work's own timeout still ends it). */
export async function within<T> (work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}
