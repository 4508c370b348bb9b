import type { Keyring } from '../keys/keyring.js'
import type { PageOutcome } from '../oidc/answer.js'
import type { AuthorizationRequest } from '../oidc/authorization-request.js'
import type { Client } from '../oidc/clients.js'
import type { Clock, Upstreams } from '../oidc/deps.js'
import type { BackupDeps } from './deps.js'
import { sealBackupContext } from './page.js'

/** What deciding on the backup-login page uses. */
export interface OutagePageDeps {
  keys: Keyring
  now: Clock
  upstreams: Upstreams
  backup?: BackupDeps
}

/**
 * The page `/authorize` shows instead of `temporarily_unavailable` when the
 * request's provider is down (`down`, the same evidence a cached login needs)
 * and no session can serve: a passkey button, one button per other provider
 * that is up (a linked identity there logs the person in), and "Back to the
 * site". With `down` false (passkeyWhenHealthy), a choice between the
 * provider and a passkey. Undefined when backup login is off, the client
 * refuses backup logins, or nothing could be offered.
 */
export function outagePage (deps: OutagePageDeps, request: AuthorizationRequest, client: Pick<Client, 'clientId' | 'freshness'>, down: boolean): PageOutcome | undefined {
  const backup = deps.backup
  if (backup === undefined || !client.freshness.acceptBackupLogin) return undefined
  const passkey = backup.policy.passkeys
  const linked = down && backup.policy.linkedProviders
    ? [...deps.upstreams.values()].filter((router) => router.id !== request.provider && router.available()).map((router) => router.id)
    : []
  if (!passkey && linked.length === 0) return undefined
  const context = sealBackupContext(deps.keys, down ? { request, down } : { request }, deps.now())
  return { page: { kind: 'outage', provider: request.provider, site: client.clientId, context, down, passkey, linked }, cookies: [] }
}
