import { isUnderstudyError } from '../errors.js'
import type { Logger } from '../log.js'
import { OAuthError } from '../oidc/errors.js'
import { randomId } from '../sessions/random.js'
import type { Session } from '../sessions/session.js'
import type { BackupDeps } from './deps.js'
import { linkMethodId } from './method-id.js'

/**
 * A backup login through a linked provider: the user logged in at provider B
 * (`upstream` is that login as B's own) while their own provider is down. The
 * directory says which person B's identity was linked to, from a fresh
 * session of that person (never by email or any other claim). The session is
 * the person's: their usual `sub`, their primary identity, `acr` backup, B's
 * `amr` (or `fed`) and B's `auth_time`. No profile claims: B's may describe
 * someone the relying party does not know by them.
 */
export async function linkedPersonSession (backup: BackupDeps | undefined, upstream: Session, now: number, log: Logger): Promise<Session> {
  if (backup === undefined || !backup.policy.linkedProviders) throw new OAuthError('temporarily_unavailable', 'backup login through another provider is not enabled')
  let linked
  try {
    linked = await backup.directory.linkedPerson(upstream.provider, upstream.upstreamSub)
  } catch (err) {
    if (!isUnderstudyError(err)) throw err
    log.warn({ err, provider: upstream.provider }, 'directory unavailable: a linked-provider login cannot be completed')
    throw new OAuthError('temporarily_unavailable', 'backup login is unavailable right now; try again shortly', { cause: err })
  }
  if (linked === undefined) {
    log.info({ provider: upstream.provider }, 'a linked-provider login by an identity linked to nobody')
    throw new OAuthError('temporarily_unavailable', `this ${upstream.provider} account is not linked to an account that can log in here`)
  }
  const { link, person } = linked
  return {
    sid: randomId(),
    sub: person.sub,
    provider: person.provider,
    upstreamSub: person.upstreamSub,
    claims: {},
    authTime: Math.min(upstream.authTime, now),
    amr: upstream.amr ?? ['fed'],
    vouchedAt: now,
    backup: { method: 'linked', provider: link.provider, id: linkMethodId(link) },
  }
}
