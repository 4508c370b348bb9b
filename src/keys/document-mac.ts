import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { Keyring, SealingKey } from './keyring.js'

const ENVELOPE_VERSION = 1
// A separate key per purpose: the sealing key itself is only ever used for AES-GCM.
const MAC_KEY_INFO = 'understudy shared-document mac v1'

const Envelope = Type.Object({
  v: Type.Literal(ENVELOPE_VERSION),
  kid: Type.String({ minLength: 1 }),
  at: Type.Integer({ minimum: 0 }),
  mac: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
  doc: Type.String(),
}, { additionalProperties: false })

const macKeys = new WeakMap<SealingKey, Buffer>()

function macKey (sealing: SealingKey): Buffer {
  let key = macKeys.get(sealing)
  if (key === undefined) {
    key = Buffer.from(hkdfSync('sha256', sealing.key, Buffer.alloc(0), MAC_KEY_INFO, 32))
    macKeys.set(sealing, key)
  }
  return key
}

/**
 * Authenticates documents the gateway keeps in the shared store for other
 * processes (the upstream discovery and JWKS backups): an HMAC-SHA256 under a
 * key derived from the sealing keys, over the document, the store key it was
 * written under and when. Whoever can write to Redis but holds no sealing key
 * cannot plant one, nor move one to another key; every sealing key verifies,
 * so a rotation does not orphan the backups.
 */
export class DocumentMac {
  readonly #keys: Keyring
  readonly #maxAgeSec: number

  constructor (keys: Keyring, options: { maxAgeSec: number }) {
    this.#keys = keys
    this.#maxAgeSec = options.maxAgeSec
  }

  /** `doc` in an envelope that `open` accepts under the same `key`; `now` in seconds. */
  wrap (key: string, doc: string, now: number): string {
    const sealing = this.#keys.sealer
    return JSON.stringify({ v: ENVELOPE_VERSION, kid: sealing.kid, at: now, mac: mac(sealing, key, now, doc), doc })
  }

  /** The document in an envelope written under `key`; throws a plain Error saying why it is refused. */
  open (key: string, envelope: string, now: number): string {
    let parsed: unknown
    try {
      parsed = JSON.parse(envelope)
    } catch {
      throw new Error('not JSON')
    }
    if (!Value.Check(Envelope, parsed)) throw new Error('not an authenticated document envelope')
    const sealing = this.#keys.unsealer(parsed.kid)
    if (sealing === undefined) throw new Error(`authenticated with an unknown key ${JSON.stringify(parsed.kid)}`)
    const expected = Buffer.from(mac(sealing, key, parsed.at, parsed.doc), 'base64url')
    if (!timingSafeEqual(expected, Buffer.from(parsed.mac, 'base64url'))) throw new Error('its MAC does not verify')
    if (parsed.at > now + 300 || now - parsed.at > this.#maxAgeSec) throw new Error('written outside the time it may be kept')
    return parsed.doc
  }
}

function mac (sealing: SealingKey, key: string, at: number, doc: string): string {
  return createHmac('sha256', macKey(sealing)).update(`${key}\u0000${at}\u0000${doc}`).digest('base64url')
}
