import type { Keyring } from '../keys/keyring.js'
import { randomId } from '../sessions/random.js'
import { seal, unseal } from '../sessions/seal.js'
import type { AuthorizationRequest } from './authorization-request.js'

/** What every login at the upstream keeps in its sealed, browser-bound cookie while the user is there. */
export interface UpstreamVisit {
  state: string
  nonce: string
  verifier?: string
  /** The provider the browser was sent to. */
  provider: string
  region: string
  /** When the browser was sent to the upstream (seconds): a login there since then is as fresh as any request can ask. */
  startedAt: number
  /** The upstream was told to re-authenticate the user (the provider's `reauthenticate` parameters). */
  reauthenticated?: true
}

/** A login at the upstream that answers a relying party's authorization request. */
export interface Transaction extends UpstreamVisit {
  request: AuthorizationRequest
  /** A backup login through a linked provider (DESIGN §10): `provider` is the linked one, not the request's, which is down. */
  backup?: true
}

/**
 * A login at the upstream for the gateway's own account page: to open it
 * (`link` absent), or to link the identity the user logs in with to the
 * person `link.sub`, from this browser's session `link.sid` only.
 */
export interface AccountTransaction extends UpstreamVisit {
  account: { link?: { sub: string, sid: string } }
}

/** How long a browser may stay at the upstream (seconds): the transaction cookie's life and the state's single-use guard. */
export const TRANSACTION_LIFETIME = 600

// The state names the transaction cookie and comes back in the callback's query: 24 random bytes, base64url without padding.
const STATE_BYTES = 24
const STATE = new RegExp(`^[A-Za-z0-9_-]{${STATE_BYTES / 3 * 4}}$`)
const NONCE_BYTES = 24
const VERIFIER_BYTES = 32

/** Whether `value` has the form of a state this gateway makes; anything else names no transaction of ours. */
export function isState (value: unknown): value is string {
  return typeof value === 'string' && STATE.test(value)
}

/** A new transaction for `request` at `provider`: fresh state, nonce and, with PKCE, verifier. The region is the router's to pick. */
export function newTransaction<T extends Transaction | AccountTransaction> (purpose: Omit<T, keyof UpstreamVisit>, provider: string, now: number, options: { pkce: boolean, reauthenticate: boolean }): Omit<T, 'region'> {
  const tx = { ...purpose, state: randomId(STATE_BYTES), nonce: randomId(NONCE_BYTES), provider, startedAt: now } as Omit<T, 'region'>
  if (options.pkce) tx.verifier = randomId(VERIFIER_BYTES)
  if (options.reauthenticate) tx.reauthenticated = true
  return tx
}

/** The transaction sealed for its cookie, expiring after TRANSACTION_LIFETIME. */
export function sealTransaction (keys: Keyring, tx: Transaction | AccountTransaction, now: number): string {
  return seal(keys, 'tx', tx, now + TRANSACTION_LIFETIME)
}

/** Opens a transaction cookie; throws when it does not open or has expired. */
export function openTransaction (keys: Keyring, sealed: string, now: number): Transaction | AccountTransaction {
  return unseal<Transaction | AccountTransaction>(keys, 'tx', sealed, now)
}
