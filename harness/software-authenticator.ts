import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import type {
  AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON,
} from '@simplewebauthn/server'

/**
 * A browser and a passkey authenticator in one, in software: it answers
 * registration and authentication options as navigator.credentials.create and
 * .get would, with real ES256 (P-256) keys and real WebAuthn structures built
 * here from the spec (CBOR, authenticator data, client data, attestation
 * "none"), never with the server library's own encoders, so a test checks the
 * gateway against the format rather than against itself. The tests, the
 * browser-less page-script runs and the game day's enrolled users share it.
 *
 *   const authenticator = SoftwareAuthenticator.create('localhost', 'http://localhost:3000')
 *   const response = authenticator.register(options)          // navigator.credentials.create
 *   const assertion = authenticator.authenticate(options)     // navigator.credentials.get
 */

/** What kind of authenticator: a synced passkey (iCloud Keychain, Google Password Manager: BE and BS set, counter always 0) or a device-bound one (a security key: counter counts up). */
export interface AuthenticatorKind { synced?: boolean }

/** Ways a test makes one answer wrong (or a counter what it chooses); each defaults to what an honest browser and authenticator send. */
export interface Tamper {
  origin?: string
  /** The RP ID whose hash goes into the authenticator data. */
  rpId?: string
  /** false: the UV flag is left out. */
  userVerified?: boolean
  challenge?: string
  type?: string
  /** The signature counter to report (the credential keeps it for the next use). */
  counter?: number
}

/** A credential the authenticator holds (a discoverable one: it keeps the user handle). */
export interface HeldCredential { id: string, rpId: string, userHandle: string, counter: number, readonly privateKey: KeyObject, readonly publicKey: KeyObject }

const FLAG_UP = 0x01
const FLAG_UV = 0x04
const FLAG_BE = 0x08
const FLAG_BS = 0x10
const FLAG_AT = 0x40
const ES256 = -7
/** The AAGUID of an authenticator that does not say what it is (attestation "none"). */
const NO_AAGUID = Buffer.alloc(16)

export class SoftwareAuthenticator {
  readonly credentials: HeldCredential[] = []

  readonly rpId: string
  readonly origin: string
  readonly synced: boolean
  private constructor (rpId: string, origin: string, synced: boolean) {
    this.rpId = rpId
    this.origin = origin
    this.synced = synced
  }

  /** An authenticator in a browser at `origin` that makes passkeys for `rpId`. */
  static create (rpId: string, origin: string, kind: AuthenticatorKind = {}): SoftwareAuthenticator {
    return new SoftwareAuthenticator(rpId, origin, kind.synced === true)
  }

  /** Answers registration options as navigator.credentials.create does: a new discoverable ES256 credential, attestation "none". */
  register (options: PublicKeyCredentialCreationOptionsJSON, tamper: Tamper = {}): RegistrationResponseJSON {
    if (options.rp.id !== undefined && options.rp.id !== this.rpId) throw new Error(`SecurityError: ${this.origin} cannot register for RP ID ${options.rp.id}`)
    if (!options.pubKeyCredParams.some((param) => param.alg === ES256)) throw new Error('NotSupportedError: ES256 is not offered')
    if (options.excludeCredentials?.some((excluded) => this.held(excluded.id) !== undefined)) throw new Error('InvalidStateError: this authenticator already holds a passkey of this user')
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const credential: HeldCredential = { id: randomBytes(16).toString('base64url'), rpId: this.rpId, userHandle: options.user.id, counter: tamper.counter ?? 0, privateKey, publicKey }
    this.credentials.push(credential)
    const idBytes = Buffer.from(credential.id, 'base64url')
    const attested = Buffer.concat([NO_AAGUID, uint16(idBytes.length), idBytes, coseKey(publicKey)])
    const authData = this.authenticatorData(tamper, FLAG_AT, credential.counter, attested)
    const attestationObject = cbor(new Map<string, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]))
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      response: {
        clientDataJSON: this.clientData('webauthn.create', options.challenge, tamper).toString('base64url'),
        attestationObject: attestationObject.toString('base64url'),
        transports: ['internal', 'hybrid'],
      },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    }
  }

  /**
   * Answers authentication options as navigator.credentials.get does: with
   * the first allowed credential it holds or, when none is listed (a
   * discoverable login), the one it made last for the RP ID.
   */
  authenticate (options: PublicKeyCredentialRequestOptionsJSON, tamper: Tamper = {}): AuthenticationResponseJSON {
    const rpId = options.rpId ?? this.rpId
    const allowed = options.allowCredentials ?? []
    const credential = allowed.length > 0
      ? allowed.map((entry) => this.held(entry.id)).find((held) => held !== undefined)
      : this.credentials.findLast((held) => held.rpId === rpId)
    if (credential === undefined) throw new Error(`NotAllowedError: no passkey for ${rpId}`)
    credential.counter = tamper.counter ?? (this.synced ? 0 : credential.counter + 1)
    const authData = this.authenticatorData(tamper, 0, credential.counter)
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, tamper)
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), credential.privateKey)
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        signature: signature.toString('base64url'),
        userHandle: credential.userHandle,
      },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    }
  }

  private held (id: string): HeldCredential | undefined {
    return this.credentials.find((credential) => credential.id === id)
  }

  /** WebAuthn §6.1: rpIdHash, flags, signCount, then the attested credential data when there is one. */
  private authenticatorData (tamper: Tamper, extraFlags: number, counter: number, attested = Buffer.alloc(0)): Buffer {
    let flags = FLAG_UP | extraFlags
    if (tamper.userVerified !== false) flags |= FLAG_UV
    if (this.synced) flags |= FLAG_BE | FLAG_BS
    const signCount = Buffer.alloc(4)
    signCount.writeUInt32BE(counter)
    return Buffer.concat([sha256(tamper.rpId ?? this.rpId), Buffer.of(flags), signCount, attested])
  }

  /** WebAuthn §5.8.1 CollectedClientData, serialised as a browser does. */
  private clientData (type: string, challenge: string, tamper: Tamper): Buffer {
    return Buffer.from(JSON.stringify({
      type: tamper.type ?? type,
      challenge: tamper.challenge ?? challenge,
      origin: tamper.origin ?? this.origin,
      crossOrigin: false,
    }))
  }
}

function sha256 (data: string | Buffer): Buffer {
  return createHash('sha256').update(data).digest()
}

function uint16 (n: number): Buffer {
  const buffer = Buffer.alloc(2)
  buffer.writeUInt16BE(n)
  return buffer
}

/** An EC2 P-256 public key as a COSE_Key (RFC 9053): kty 2, alg ES256, crv 1, x, y. */
function coseKey (publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' })
  return cbor(new Map<number, Cbor>([[1, 2], [3, ES256], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]))
}

/** The little CBOR (RFC 8949) WebAuthn needs: integers, byte and text strings, maps (keys given in canonical order). */
type Cbor = number | string | Buffer | Map<number | string, Cbor>

function cbor (value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value)
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8')
    return Buffer.concat([head(3, bytes.length), bytes])
  }
  if (Buffer.isBuffer(value)) return Buffer.concat([head(2, value.length), value])
  return Buffer.concat([head(5, value.size), ...[...value].flatMap(([key, item]) => [cbor(key), cbor(item)])])
}

/** A CBOR item head: major type and argument. */
function head (major: number, argument: number): Buffer {
  if (argument < 24) return Buffer.of((major << 5) | argument)
  if (argument < 0x100) return Buffer.of((major << 5) | 24, argument)
  if (argument < 0x10000) return Buffer.concat([Buffer.of((major << 5) | 25), uint16(argument)])
  const buffer = Buffer.alloc(5)
  buffer.writeUInt8((major << 5) | 26)
  buffer.writeUInt32BE(argument, 1)
  return buffer
}
