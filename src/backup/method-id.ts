import { createHash } from 'node:crypto'
import type { LinkedIdentity, Passkey } from '../directory/directory.js'

/**
 * The id of a passkey as registered: what a login with it carries (the
 * session's `backup.id`, a grant's `mid`) and what its removal tombstones.
 * The person and the time of registration are part of it, so a method
 * removed and added again (a second later at the soonest: adding one takes a
 * ceremony or a login at the provider) is another method, never one still
 * tombstoned. A hash: access tokens are readable by the client, and neither
 * a credential id nor another provider's subject is its business.
 */
export function passkeyMethodId (passkey: Pick<Passkey, 'id' | 'sub' | 'createdAt'>): string {
  return methodId('passkey', passkey.id, passkey.sub, passkey.createdAt)
}

/** The id of a link as made (see passkeyMethodId): unlinking an identity and linking it again gives another. */
export function linkMethodId (link: Pick<LinkedIdentity, 'provider' | 'upstreamSub' | 'sub' | 'linkedAt'>): string {
  // A provider id has no NUL (its config pattern), so the pair reads one way only.
  return methodId('linked', `${link.provider}\u0000${link.upstreamSub}`, link.sub, link.linkedAt)
}

function methodId (kind: string, key: string, sub: string, addedAt: number): string {
  return createHash('sha256').update(`understudy backup method\u0000${kind}\u0000${sub}\u0000${addedAt}\u0000${key}`).digest('base64url')
}
