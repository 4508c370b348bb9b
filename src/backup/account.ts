import type { Passkey, Person } from '../directory/directory.js'
import type { Logger } from '../log.js'
import type { Redirect } from '../oidc/answer.js'
import { OAuthError } from '../oidc/errors.js'
import type { MethodRevocationDeps } from '../oidc/tombstones.js'
import type { AccountTransaction } from '../oidc/transaction.js'
import { visitUpstream, type UpstreamLoginDeps } from '../oidc/upstream-login.js'
import type { Session } from '../sessions/session.js'
import type { BackupDeps } from './deps.js'
import type { IdentityEvents } from './identity-events.js'
import { methodsView, type MethodsView } from './identity-view.js'
import { removePasskeyMethod, unlinkMethod, type MethodRemovalDeps } from './method-removal.js'
import { PasskeyError } from './passkey-error.js'
import { registrationOptions, verifyRegistration, type PasskeyDeps } from './passkeys.js'

/**
 * How recent the upstream's vouching must be for the user to change their
 * login methods (seconds): adding a passkey or a link is a new key to the
 * account, so a cookie stolen last week cannot make one.
 */
export const CHANGE_METHODS_WITHIN = 600

/**
 * Whether this session may add or remove login methods: an upstream login
 * (not a backup one: a passkey must not mint further keys) within
 * CHANGE_METHODS_WITHIN.
 */
export function canChangeMethods (session: Session, now: number): boolean {
  return session.backup === undefined && now - session.vouchedAt <= CHANGE_METHODS_WITHIN
}

/** What the account page's actions use; the store's tombstones end what a removed method's logins made. */
export interface AccountDeps extends UpstreamLoginDeps, MethodRevocationDeps {
  backup: BackupDeps
  identityEvents?: IdentityEvents
}

/** The account page's view of a person: their own provider, links and passkeys, and whether this session may change them now. */
export interface AccountView extends MethodsView {
  sub: string
  provider: string
  /** Other providers a link could be made to (configured, not the person's own, not linked yet). */
  linkable: string[]
  canChange: boolean
}

/** Everything the page lists; the directory's trouble is US_ERR_DIRECTORY_UNAVAILABLE for the page to explain. */
export async function accountView (deps: AccountDeps, session: Session, now: number): Promise<AccountView> {
  const methods = methodsView(await deps.backup.directory.identity(session.sub))
  const linked = new Set(methods.links.map((l) => l.provider))
  return {
    sub: session.sub,
    provider: session.provider,
    ...methods,
    linkable: deps.backup.policy.linkedProviders ? [...deps.upstreams.keys()].filter((id) => id !== session.provider && !linked.has(id)) : [],
    canChange: canChangeMethods(session, now),
  }
}

/** Logs in at `provider` to open the account page (or to change methods, when the session is not fresh enough). */
export async function accountLogin (deps: AccountDeps, provider: unknown, log: Logger): Promise<Redirect> {
  const id = String(provider ?? '')
  if (!deps.upstreams.has(id)) throw new OAuthError('invalid_request', 'not a configured provider')
  return visitUpstream<AccountTransaction>(deps, id, { account: {} }, { reauthenticate: false }, log)
}

/** Starts linking `provider` to the person of this fresh session: a fresh login there (its reauthenticate parameters), then the link at the callback. */
export async function startLink (deps: AccountDeps, session: Session, provider: unknown, log: Logger): Promise<Redirect> {
  const id = String(provider ?? '')
  mayChange(deps, session)
  if (!deps.backup.policy.linkedProviders) throw new OAuthError('invalid_request', 'linking providers is not enabled')
  if (id === session.provider || !deps.upstreams.has(id)) throw new OAuthError('invalid_request', 'not a provider that can be linked')
  return visitUpstream<AccountTransaction>(deps, id, { account: { link: { sub: session.sub, sid: session.sid } } }, { reauthenticate: true }, log)
}

/** Unlinks `provider` from the person, ending its logins' sessions and tokens: their own provider always stays a way in. */
export async function unlink (deps: AccountDeps, session: Session, provider: unknown): Promise<boolean> {
  mayChange(deps, session)
  const id = String(provider ?? '')
  const removed = await unlinkMethod(removalDeps(deps), session.sub, id)
  if (removed) deps.identityEvents?.emit({ type: 'identity.unlinked', sub: session.sub, provider: id, actor: 'user' })
  return removed
}

/** Starts adding a passkey for the person of this fresh session. */
export async function passkeyRegistration (deps: AccountDeps & SessionKeys, session: Session): ReturnType<typeof registrationOptions> {
  mayChange(deps, session)
  if (!deps.backup.policy.passkeys) throw new OAuthError('invalid_request', 'passkeys are not enabled')
  const identity = await deps.backup.directory.identity(session.sub)
  return registrationOptions({ ...deps, rp: deps.backup.rp }, person(session, deps.now()), identity?.passkeys ?? [], userName(session))
}

/** Verifies the browser's new passkey and keeps it for the person; a PasskeyError when refused. */
export async function addPasskey (deps: AccountDeps & SessionKeys, session: Session, ceremony: unknown, response: unknown, userAgent: string | undefined): Promise<Passkey> {
  mayChange(deps, session)
  const passkey = await verifyRegistration({ ...deps, rp: deps.backup.rp }, ceremony, response, { sub: session.sub, ...(userAgent === undefined ? {} : { userAgent }) })
  await deps.backup.directory.ensurePerson(person(session, deps.now()))
  if (!await deps.backup.directory.addPasskey(passkey)) throw new PasskeyError('verification', 'this passkey is already registered')
  deps.identityEvents?.emit({ type: 'identity.passkey.added', sub: session.sub, passkey: passkey.id, actor: 'user' })
  return passkey
}

/** Removes one of the person's passkeys, ending its logins' sessions and tokens. */
export async function removePasskey (deps: AccountDeps, session: Session, id: unknown): Promise<boolean> {
  mayChange(deps, session)
  const removed = await removePasskeyMethod(removalDeps(deps), session.sub, String(id ?? ''))
  if (removed) deps.identityEvents?.emit({ type: 'identity.passkey.removed', sub: session.sub, passkey: String(id), actor: 'user' })
  return removed
}

/** What sealing ceremonies and spending them once use. */
type SessionKeys = Pick<PasskeyDeps, 'keys' | 'store' | 'now'>

function removalDeps (deps: AccountDeps): MethodRemovalDeps {
  return { directory: deps.backup.directory, store: deps.store, sessionLifetime: deps.sessionLifetime, tokens: deps.tokens }
}

function mayChange (deps: Pick<AccountDeps, 'now'>, session: Session): void {
  if (!canChangeMethods(session, deps.now())) throw new OAuthError('login_required', 'log in again at your provider to change how you log in')
}

function person (session: Session, now: number): Person {
  return { sub: session.sub, provider: session.provider, upstreamSub: session.upstreamSub, createdAt: now }
}

/** The name an authenticator shows for the passkey: the user's name or email when the provider released one, never the bare `sub`. */
function userName (session: Session): string {
  const { email, name, preferred_username: username } = session.claims
  const shown = [email, username, name].find((v): v is string => typeof v === 'string' && v.length > 0)
  return shown ?? `${session.provider} account`
}
