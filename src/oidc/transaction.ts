import type { Keyring } from '../keys/keyring.js'
import { randomId } from '../sessions/random.js'
import { seal, unseal } from '../sessions/seal.js'
import type { AuthorizationRequest } from './authorization-request.js'

/** Transaction kept in a sealed, browser-bound cookie while the user is at the upstream. */
export interface Transaction {
  state: string
  nonce: string
  verifier?: string
  provider: string
  region: string
  request: AuthorizationRequest
  /** When the browser was sent to the upstream (seconds): a login there since then is as fresh as any request can ask. */
  startedAt: number
  /** The upstream was told to re-authenticate the user (the provider's `reauthenticate` parameters). */
  reauthenticated?: true
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
export function newTransaction (request: AuthorizationRequest, provider: string, now: number, options: { pkce: boolean, reauthenticate: boolean }): Omit<Transaction, 'region'> {
  const tx: Omit<Transaction, 'region'> = { state: randomId(STATE_BYTES), nonce: randomId(NONCE_BYTES), provider, request, startedAt: now }
  if (options.pkce) tx.verifier = randomId(VERIFIER_BYTES)
  if (options.reauthenticate) tx.reauthenticated = true
  return tx
}

/** The transaction sealed for its cookie, expiring after TRANSACTION_LIFETIME. */
export function sealTransaction (keys: Keyring, tx: Transaction, now: number): string {
  return seal(keys, 'tx', tx, now + TRANSACTION_LIFETIME)
}

/** Opens a transaction cookie; throws when it does not open or has expired. */
export function openTransaction (keys: Keyring, sealed: string, now: number): Transaction {
  return unseal<Transaction>(keys, 'tx', sealed, now)
}
