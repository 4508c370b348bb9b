import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { methodsView } from '../src/backup/identity-view.js'
import type { IdentityEvent } from '../src/backup/identity-events.js'
import { removePasskeyMethod, unlinkMethod, type MethodRemovalDeps } from '../src/backup/method-removal.js'
import type { Directory } from '../src/directory/directory.js'
import { isUnderstudyError } from '../src/errors.js'
import { AdminError, type AdminProblem } from './errors.js'

/** Retry-After while the directory cannot answer (seconds): its breaker tries the database again every second or so. */
export const DIRECTORY_RETRY_AFTER = 5

/** What each path parameter may be: the shapes the gateway itself makes, so nothing else reaches the database or the log. */
const PARAMS: Record<string, { pattern: RegExp, rule: string }> = {
  sub: { pattern: /^[A-Za-z0-9_-]{43}$/, rule: 'a gateway sub: 43 base64url characters' },
  id: { pattern: /^[A-Za-z0-9_-]{1,256}$/, rule: 'a passkey\'s credential id: 1 to 256 base64url characters' },
  provider: { pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, rule: 'a provider id: a letter or digit, then up to 63 letters, digits, _ . -' },
}

type Params<K extends string> = { Params: Record<K, string> }

/**
 * The support desk's view of backup login (DESIGN §10): a person's ways to
 * log in, without keys or secrets, and the removal of one passkey or link
 * (a lost phone, a cloned key), which also ends the sessions and tokens
 * that method's logins made. Registered inside the admin plugin, so
 * behind its bearer token and rate limit. Each removal is logged at `warn`
 * with the caller's address and sent to the `identity.*` webhooks with
 * actor `admin`; the person's own provider always stays a way in.
 */
const adminIdentities: FastifyPluginAsync = async (app) => {
  const gw = app.gateway

  app.get<Params<'sub'>>('/admin/identities/:sub', async (request) => {
    const directory = backupDirectory()
    const { sub } = checked(request.params)
    const identity = await answer(directory.identity(sub))
    if (identity === undefined) throw new AdminError('not_found', 'the directory has no such person (they have never added a backup method)')
    return { sub: identity.person.sub, provider: identity.person.provider, ...methodsView(identity) }
  })

  app.delete<Params<'sub' | 'id'>>('/admin/identities/:sub/passkeys/:id', async (request, reply) => {
    const directory = backupDirectory()
    const { sub, id } = checked(request.params)
    if (!await answer(removePasskeyMethod(removal(directory), sub, id))) throw new AdminError('not_found', 'this person has no such passkey')
    changed(request, { type: 'identity.passkey.removed', sub, passkey: id, actor: 'admin' })
    return reply.code(204).send()
  })

  app.delete<Params<'sub' | 'provider'>>('/admin/identities/:sub/links/:provider', async (request, reply) => {
    const directory = backupDirectory()
    const { sub, provider } = checked(request.params)
    if (!await answer(unlinkMethod(removal(directory), sub, provider))) throw new AdminError('not_found', 'this person has no link to that provider')
    changed(request, { type: 'identity.unlinked', sub, provider, actor: 'admin' })
    return reply.code(204).send()
  })

  function backupDirectory (): Directory {
    if (gw.backup === undefined) throw new AdminError('backup_login_off', 'backup login is off on this gateway (no backupLogin in the config): there are no identities to show')
    return gw.backup.directory
  }

  /** A removal also ends the sessions and tokens the method's logins made (the store's tombstones). */
  function removal (directory: Directory): MethodRemovalDeps {
    return { directory, store: gw.store, sessionLifetime: gw.sessionLifetime, tokens: gw.config.tokens }
  }

  function changed (request: FastifyRequest, event: IdentityEvent): void {
    request.log.warn({ audit: event.type, from: request.ip, sub: event.sub, provider: event.provider, passkey: event.passkey }, 'a person\'s backup login method removed (admin API)')
    gw.identityEvents.emit(event)
  }
}

/** The path parameters, each checked against its shape; every problem is reported at once. */
function checked<K extends string> (params: Record<K, string>): Record<K, string> {
  const problems: AdminProblem[] = Object.entries<string>(params)
    .filter(([name, value]) => !(PARAMS[name]?.pattern.test(value) ?? false))
    .map(([name]) => ({ path: `/${name}`, message: `must be ${PARAMS[name]?.rule ?? 'absent'}` }))
  if (problems.length > 0) throw new AdminError('invalid_params', 'the path names no possible identity', problems)
  return params
}

/** The directory's answer; while it cannot answer, a 503 the caller may retry (an admin call is no login: it may wait). */
async function answer<T> (call: Promise<T>): Promise<T> {
  try {
    return await call
  } catch (err) {
    if (!isUnderstudyError(err, 'US_ERR_DIRECTORY_UNAVAILABLE')) throw err
    throw new AdminError('directory_unavailable', 'the directory cannot answer right now; try again shortly', undefined, { retryAfter: DIRECTORY_RETRY_AFTER, cause: err })
  }
}

export default adminIdentities
