import type { Directory } from '../directory/directory.js'
import { revokeMethod, type MethodRevocationDeps } from '../oidc/tombstones.js'
import { linkMethodId, passkeyMethodId } from './method-id.js'

/** What removing a backup method uses: the directory (the method itself) and the store (what logins with it produced). */
export interface MethodRemovalDeps extends MethodRevocationDeps {
  directory: Directory
}

/**
 * Removes one of the person's passkeys, and ends the sessions and tokens its
 * logins made; false when the person has no such passkey. Used by the account
 * page and the admin API alike.
 */
export async function removePasskeyMethod (deps: MethodRemovalDeps, sub: string, id: string): Promise<boolean> {
  const passkey = (await deps.directory.identity(sub))?.passkeys.find((p) => p.id === id)
  if (passkey === undefined) return false
  return removing(deps, passkeyMethodId(passkey), () => deps.directory.removePasskey(sub, id))
}

/** Unlinks the person's identity at `provider`, and ends the sessions and tokens its logins made; false when there is no such link. */
export async function unlinkMethod (deps: MethodRemovalDeps, sub: string, provider: string): Promise<boolean> {
  const link = (await deps.directory.identity(sub))?.links.find((l) => l.provider === provider)
  if (link === undefined) return false
  return removing(deps, linkMethodId(link), () => deps.directory.unlink(sub, provider))
}

/**
 * The tombstone first, then the row: a removal cut short between the two
 * (the directory failing, the process ending) leaves the method's logins
 * ended and the user told to try again, never a removed method whose tokens
 * live on. A login racing the removal is ended too: its session carries the
 * tombstoned id.
 */
async function removing (deps: MethodRemovalDeps, mid: string, remove: () => Promise<boolean>): Promise<boolean> {
  await revokeMethod(deps, mid)
  return remove()
}
