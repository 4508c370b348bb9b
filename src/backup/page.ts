import type { Keyring } from '../keys/keyring.js'
import { seal, unseal } from '../sessions/seal.js'
import type { AuthorizationRequest } from '../oidc/authorization-request.js'

/**
 * The gateway's own pages on the way back to a relying party (DESIGN §10):
 * `offer` after an upstream login by a user with no backup method; `outage`
 * when the user's provider is down and no cached session can serve (or, with
 * passkeyWhenHealthy, a choice while it is up). Core code decides; the HTTP
 * layer renders.
 */
export type BackupPage =
  | { kind: 'offer', provider: string, site: string, context: string }
  | { kind: 'outage', provider: string, site: string, context: string, down: boolean, passkey: boolean, linked: string[] }

/**
 * What a page's buttons carry back, sealed for BACKUP_CONTEXT_LIFETIME: the
 * relying party's validated request and, on the offer page, the session that
 * just logged in (the answer is issued from it, and only from it).
 */
export interface BackupContext {
  request: AuthorizationRequest
  sid?: string
  /** The page was shown because the request's provider was down (the gateway's own evidence): only then may a linked provider stand in for it. */
  down?: true
}

/** How long a user may stay on a backup page (seconds): long enough to create a passkey, short enough to be a single visit. */
export const BACKUP_CONTEXT_LIFETIME = 600

export function sealBackupContext (keys: Keyring, context: BackupContext, now: number): string {
  return seal(keys, 'backup', context, now + BACKUP_CONTEXT_LIFETIME)
}

/** Opens a page's context; throws US_ERR_SEAL_INVALID when it is forged, of another kind or expired. */
export function openBackupContext (keys: Keyring, sealed: string, now: number): BackupContext {
  return unseal<BackupContext>(keys, 'backup', sealed, now)
}
