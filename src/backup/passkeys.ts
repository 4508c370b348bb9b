import { createHash } from 'node:crypto'
import { isIP } from 'node:net'
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server'
import { decodeAttestationObject, decodeClientDataJSON, isoBase64URL, parseAuthenticatorData, type ParsedAuthenticatorData } from '@simplewebauthn/server/helpers'
import type { Passkey, Person } from '../directory/directory.js'
import { UnderstudyError } from '../errors.js'
import { CEREMONY_LIFETIME, newChallenge, redeemCeremony, sealCeremony, type Ceremony, type CeremonyDeps } from './challenges.js'
import { PasskeyError } from './passkey-error.js'
import { passkeyName } from './passkey-name.js'

/**
 * The WebAuthn ceremonies of backup login (DESIGN §10), without HTTP: options
 * for the browser, each with a sealed ceremony the HTTP layer hands back with
 * the browser's response, and the verification of that response. Discoverable
 * credentials with user verification only: a passkey alone logs a person in.
 */

/** Whom passkeys are bound to: the RP ID (the issuer's host), the origin browsers must report, and the name they show. */
export interface RelyingParty { id: string, origin: string, name: string }

/** What the ceremonies use: the keys that seal ceremonies, the store that spends them once, the clock, the relying party. */
export interface PasskeyDeps extends CeremonyDeps { rp: RelyingParty }

/** Options for the browser, and the sealed ceremony to keep beside them (a short-lived cookie or a hidden field) until the response comes. */
export interface CeremonyStart<Options> { options: Options, ceremony: string }

/** Finds a passkey and its person by credential id (the directory's `passkey`). */
export type PasskeyLookup = (credentialId: string) => Promise<{ passkey: Passkey, person: Person } | undefined>

/** A verified passkey login: who, with which passkey, the counter to record, and how (RFC 8176 `amr`). */
export interface PasskeyLogin { person: Person, passkey: Passkey, newCounter: number, amr: string[] }

/** ES256, EdDSA, RS256: what platform authenticators and security keys make. */
const ALGORITHMS = [-7, -8, -257]
/**
 * Longest credential id kept. WebAuthn allows 1023 bytes (§7.1 step 25); 192
 * (256 base64url characters) is what the account page and the admin API can
 * name to remove a passkey, and far more than authenticators make (16 to 64).
 */
const MAX_CREDENTIAL_ID_BYTES = 192
/** The same limit on the base64url form a browser sends, checked before the id reaches the directory. */
const MAX_CREDENTIAL_ID_CHARS = Math.ceil(MAX_CREDENTIAL_ID_BYTES * 4 / 3)
const TRANSPORTS = new Set(['usb', 'nfc', 'ble', 'smart-card', 'hybrid', 'internal', 'cable'])

/** The relying party for an issuer: RP ID its hostname, origin its scheme://host[:port]. An IP address is refused: browsers never run WebAuthn on one. */
export function rpFor (issuer: string, name = 'understudy'): RelyingParty {
  const url = new URL(issuer)
  if (isIP(url.hostname.replace(/^\[(.*)\]$/, '$1')) !== 0) {
    throw new UnderstudyError('US_ERR_CONFIG_INVALID', `passkeys need an issuer with a domain name, not ${url.hostname} (http://localhost:PORT in development): browsers refuse WebAuthn on an IP address`)
  }
  return { id: url.hostname, origin: url.origin, name }
}

/**
 * The WebAuthn user handle of a person: stable (the same person always gets
 * the same one, so an authenticator replaces its old passkey for them instead
 * of keeping two), opaque (a hash, never the `sub` an RP sees nor any claim),
 * and different per RP ID, so two gateways never share a handle for one
 * upstream identity. It needs no key, so key rotation never changes it.
 */
export function userHandleFor (rp: RelyingParty, sub: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash('sha256').update('understudy webauthn user handle\u0000').update(rp.id).update('\u0000').update(sub).digest())
}

/** The RFC 8176 `amr` of a passkey login: a device-bound key is hardware-held (`hwk`); one that may sync between devices (BE flag) is not (`swk`). Both verified the user (`user`). */
export function amrFor (deviceType: Passkey['deviceType']): string[] {
  return [deviceType === 'multiDevice' ? 'swk' : 'hwk', 'user']
}

/** Starts adding a passkey for `person`: options for navigator.credentials.create, excluding the passkeys they already have. */
export async function registrationOptions (deps: PasskeyDeps, person: Person, existing: Passkey[], userName: string): Promise<CeremonyStart<PublicKeyCredentialCreationOptionsJSON>> {
  const options = await generateRegistrationOptions({
    rpName: deps.rp.name,
    rpID: deps.rp.id,
    userName,
    userDisplayName: userName,
    userID: userHandleFor(deps.rp, person.sub),
    challenge: newChallenge(),
    timeout: CEREMONY_LIFETIME * 1000,
    attestationType: 'none',
    excludeCredentials: existing.map((passkey) => ({ id: passkey.id, transports: passkey.transports })),
    authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
    supportedAlgorithmIDs: ALGORITHMS,
  })
  return { options, ceremony: sealCeremony(deps, 'register', options.challenge, person.sub) }
}

/**
 * Verifies the browser's answer to registrationOptions, for the person whose
 * session started it, and returns the passkey to store (directory
 * `addPasskey`). `userAgent` only names it.
 */
export async function verifyRegistration (deps: PasskeyDeps, ceremony: unknown, response: unknown, expected: { sub: string, userAgent?: string }): Promise<Passkey> {
  const started = await redeemCeremony(deps, ceremony, 'register', expected.sub)
  const answer = registrationResponse(response)
  const authData = decoded('attestation object', () => decodeAttestationObject(isoBase64URL.toBuffer(answer.response.attestationObject)).get('authData'))
  checkCollected(deps.rp, started, 'webauthn.create', answer.response.clientDataJSON, authData)
  const result = await verified('registration', () => verifyRegistrationResponse({
    response: answer,
    expectedChallenge: started.challenge,
    expectedOrigin: deps.rp.origin,
    expectedRPID: deps.rp.id,
    requireUserVerification: true,
    supportedAlgorithmIDs: ALGORITHMS,
  }))
  if (!result.verified) throw new PasskeyError('verification', 'the attestation does not verify')
  const { credential, credentialDeviceType, credentialBackedUp } = result.registrationInfo
  if (isoBase64URL.toBuffer(credential.id).length > MAX_CREDENTIAL_ID_BYTES) throw new PasskeyError('malformed', 'the credential id is too long')
  const now = deps.now()
  return {
    id: credential.id,
    sub: expected.sub,
    publicKey: credential.publicKey,
    counter: credential.counter,
    transports: (answer.response.transports ?? []).filter((transport) => TRANSPORTS.has(transport)),
    name: passkeyName(now, expected.userAgent),
    deviceType: credentialDeviceType,
    backedUp: credentialBackedUp,
    createdAt: now,
  }
}

/** Starts a passkey login: options for navigator.credentials.get with no credential list, so the authenticator offers the person's passkeys itself. */
export async function authenticationOptions (deps: PasskeyDeps): Promise<CeremonyStart<PublicKeyCredentialRequestOptionsJSON>> {
  const options = await generateAuthenticationOptions({
    rpID: deps.rp.id,
    allowCredentials: [],
    challenge: newChallenge(),
    timeout: CEREMONY_LIFETIME * 1000,
    userVerification: 'required',
  })
  return { options, ceremony: sealCeremony(deps, 'login', options.challenge) }
}

/**
 * Verifies the browser's answer to authenticationOptions against the passkey
 * `lookup` finds. The caller records `newCounter` (directory
 * `recordPasskeyUse`, which refuses a regression atomically too).
 *
 * The signature is checked before the counter, so reason `counter` always
 * comes from the real key: a genuine authenticator whose counter went back,
 * which means the key lives in two places.
 */
export async function verifyAuthentication (deps: PasskeyDeps, ceremony: unknown, response: unknown, lookup: PasskeyLookup): Promise<PasskeyLogin> {
  const started = await redeemCeremony(deps, ceremony, 'login')
  const answer = authenticationResponse(response)
  const authData = decoded('authenticator data', () => isoBase64URL.toBuffer(answer.response.authenticatorData))
  checkCollected(deps.rp, started, 'webauthn.get', answer.response.clientDataJSON, authData)
  const found = await lookup(answer.id)
  if (found === undefined) throw new PasskeyError('unknown-credential', 'no passkey has this credential id (removed, or never added here)')
  const { passkey, person } = found
  // WebAuthn §7.2 step 6: with no user named beforehand, the user handle must be the credential owner's.
  if (answer.response.userHandle !== isoBase64URL.fromBuffer(userHandleFor(deps.rp, person.sub))) {
    throw new PasskeyError('verification', 'the user handle is not the passkey owner\'s')
  }
  const result = await verified('authentication', () => verifyAuthenticationResponse({
    response: answer,
    expectedChallenge: started.challenge,
    expectedOrigin: deps.rp.origin,
    expectedRPID: deps.rp.id,
    // Counter 0 keeps the library from judging the counter before the signature; it is judged below, after.
    credential: { id: passkey.id, publicKey: new Uint8Array(passkey.publicKey), counter: 0 },
    requireUserVerification: true,
  }))
  if (!result.verified) throw new PasskeyError('verification', 'the signature does not verify')
  const { newCounter, credentialDeviceType } = result.authenticationInfo
  if ((newCounter > 0 || passkey.counter > 0) && newCounter <= passkey.counter) {
    throw new PasskeyError('counter', `the signature counter went from ${passkey.counter} to ${newCounter}: the passkey may have been cloned`)
  }
  return { person, passkey, newCounter, amr: amrFor(credentialDeviceType) }
}

/**
 * Checks what the browser and the authenticator collected, before any
 * signature, each with its own reason: the ceremony type, the challenge, the
 * origin (clientDataJSON), the RP ID hash and the user verification flags
 * (authenticator data). The library checks them again with the signature.
 */
function checkCollected (rp: RelyingParty, started: Ceremony, type: 'webauthn.create' | 'webauthn.get', clientDataJSON: string, authData: Uint8Array<ArrayBuffer>): void {
  const client = decoded('client data', () => decodeClientDataJSON(clientDataJSON))
  if (client.type !== type) throw new PasskeyError('ceremony', `the response is a ${String(client.type)}, not a ${type}`)
  if (client.challenge !== started.challenge) throw new PasskeyError('challenge', 'the response signs another challenge')
  if (client.origin !== rp.origin) throw new PasskeyError('origin', `the response comes from ${String(client.origin).slice(0, 200)}, not ${rp.origin}`)
  const parsed: ParsedAuthenticatorData = decoded('authenticator data', () => parseAuthenticatorData(authData))
  const expectedHash = createHash('sha256').update(rp.id).digest()
  if (!expectedHash.equals(parsed.rpIdHash)) throw new PasskeyError('rp-id', `the authenticator signed for another RP ID than ${rp.id}`)
  if (!parsed.flags.up || !parsed.flags.uv) throw new PasskeyError('user-verification', 'the authenticator did not verify the user')
}

/** Runs a decoding step of untrusted input; whatever it throws means the response is malformed. */
function decoded<T> (what: string, decode: () => T): T {
  try {
    const value = decode()
    if (value === undefined || value === null) throw new TypeError(`no ${what}`)
    return value
  } catch (err) {
    throw new PasskeyError('malformed', `the ${what} cannot be decoded`, err)
  }
}

/** Runs the library's verification; what it throws stays in `cause`, for the log. */
async function verified<T> (ceremony: string, verify: () => Promise<T>): Promise<T> {
  try {
    return await verify()
  } catch (err) {
    throw new PasskeyError('verification', `the ${ceremony} response does not verify`, err)
  }
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The credential fields both responses have, checked: a base64url id equal to rawId, type public-key, a response object. */
function credentialShape (value: unknown, fields: readonly string[]): Record<string, unknown> & { response: Record<string, unknown> } {
  if (!isObject(value) || typeof value.id !== 'string' || value.rawId !== value.id || value.type !== 'public-key' || !isObject(value.response)) {
    throw new PasskeyError('malformed', 'not a public-key credential')
  }
  if (value.id === '' || value.id.length > MAX_CREDENTIAL_ID_CHARS || !isoBase64URL.isBase64URL(value.id)) throw new PasskeyError('malformed', 'the credential id is not base64url of at most 1023 bytes')
  const response = value.response
  for (const field of fields) {
    if (typeof response[field] !== 'string') throw new PasskeyError('malformed', `the response has no ${field}`)
  }
  return { ...value, response, clientExtensionResults: isObject(value.clientExtensionResults) ? value.clientExtensionResults : {} }
}

function registrationResponse (value: unknown): RegistrationResponseJSON {
  const shaped = credentialShape(value, ['clientDataJSON', 'attestationObject'])
  const transports = shaped.response.transports
  if (transports !== undefined && !(Array.isArray(transports) && transports.every((t) => typeof t === 'string'))) {
    throw new PasskeyError('malformed', 'transports is not a list of names')
  }
  return shaped as unknown as RegistrationResponseJSON
}

function authenticationResponse (value: unknown): AuthenticationResponseJSON {
  const shaped = credentialShape(value, ['clientDataJSON', 'authenticatorData', 'signature'])
  const userHandle = shaped.response.userHandle
  if (userHandle !== undefined && userHandle !== null && typeof userHandle !== 'string') throw new PasskeyError('malformed', 'the user handle is not a string')
  return shaped as unknown as AuthenticationResponseJSON
}
