import type { Keyring } from '../keys/keyring.js'
import type { Clock } from '../oidc/deps.js'
import { randomBuffer } from '../sessions/random.js'
import { seal, unseal } from '../sessions/seal.js'
import type { Store } from '../store/store.js'
import { PasskeyError } from './passkey-error.js'

/**
 * A WebAuthn ceremony in flight, carried by the browser: sealed, so the
 * gateway keeps nothing between the options and the response, and any
 * instance of any region can finish what another started. The store's
 * single-use guard on its challenge is what makes it usable once.
 */

/** Which ceremony a challenge was made for: a registration's never logs anyone in, and the reverse. */
export type CeremonyPurpose = 'register' | 'login'

/** How long a user has to answer the browser's passkey prompt (seconds); the options' timeout too. */
export const CEREMONY_LIFETIME = 300

// A ceremony still opens for one more lifetime after it ran out, so that a
// user who took too long is told so ('expired') rather than that the page was
// tampered with ('ceremony'); past that, it no longer opens at all.
const OPENS_FOR = 2 * CEREMONY_LIFETIME
const CHALLENGE_BYTES = 32

/** A ceremony as sealed: short names, as every sealed payload here. */
interface SealedCeremony { p: CeremonyPurpose, c: string, sub?: string, iat: number }

/** An opened, claimed ceremony: its challenge (base64url, as the browser echoes it) and, for a registration, whose it is. */
export interface Ceremony { purpose: CeremonyPurpose, challenge: string, sub?: string, issuedAt: number }

/** What starting and finishing a ceremony use. */
export interface CeremonyDeps { keys: Keyring, store: Pick<Store, 'claimOnce'>, now: Clock }

/** A fresh random challenge: 32 bytes from the CSPRNG. */
export function newChallenge (): Uint8Array<ArrayBuffer> {
  return new Uint8Array(randomBuffer(CHALLENGE_BYTES))
}

/** Seals a ceremony for the browser to bring back with its response. */
export function sealCeremony (deps: Pick<CeremonyDeps, 'keys' | 'now'>, purpose: CeremonyPurpose, challenge: string, sub?: string): string {
  const now = deps.now()
  const payload: SealedCeremony = { p: purpose, c: challenge, iat: now }
  if (sub !== undefined) payload.sub = sub
  return seal(deps.keys, 'webauthn', payload, now + OPENS_FOR)
}

/**
 * Opens a sealed ceremony and spends it: it must be of `purpose`, made for
 * `sub` when one is expected (a registration belongs to the session that
 * started it), younger than CEREMONY_LIFETIME, and never redeemed before.
 * The first attempt spends it, successful or not: the browser never answers
 * one challenge twice.
 */
export async function redeemCeremony (deps: CeremonyDeps, sealed: unknown, purpose: CeremonyPurpose, sub?: string): Promise<Ceremony> {
  const now = deps.now()
  let opened: SealedCeremony & { exp: number }
  try {
    opened = unseal<SealedCeremony>(deps.keys, 'webauthn', sealed as string, now)
  } catch (err) {
    throw new PasskeyError('ceremony', 'the ceremony does not open (tampered with, or long expired)', err)
  }
  if (opened.p !== purpose) throw new PasskeyError('ceremony', `the ceremony is a ${opened.p}, not a ${purpose}`)
  if (opened.sub !== sub) throw new PasskeyError('ceremony', 'the ceremony was started by another person')
  if (typeof opened.c !== 'string' || typeof opened.iat !== 'number') throw new PasskeyError('ceremony', 'the ceremony is incomplete')
  if (now - opened.iat >= CEREMONY_LIFETIME) throw new PasskeyError('expired', `the ceremony is older than ${CEREMONY_LIFETIME} seconds`)
  // The guard lives as long as the ceremony opens, so no copy of it can be redeemed again.
  if (!await deps.store.claimOnce(`webauthn:${opened.c}`, Math.max(1, opened.exp - now))) {
    throw new PasskeyError('replayed', 'the ceremony was already used')
  }
  const ceremony: Ceremony = { purpose, challenge: opened.c, issuedAt: opened.iat }
  if (opened.sub !== undefined) ceremony.sub = opened.sub
  return ceremony
}
