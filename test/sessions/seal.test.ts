import { randomBytes } from 'node:crypto'
import { CompactEncrypt, CompactSign, compactDecrypt, type JWK } from 'jose'
import t, { type Test } from 'tap'
import { isUnderstudyError } from '../../src/errors.js'
import { generateKeySets } from '../../src/keys/generate.js'
import { buildKeyring, type Keyring } from '../../src/keys/keyring.js'
import { seal, unseal } from '../../src/sessions/seal.js'

const { signing, sealing } = await generateKeySets()
const keys = await buildKeyring(signing, sealing)
const NOW = 1_700_000_000
const LATER = NOW + 3600
const payload = { sid: 'session-1', sub: 'kakao|42', authTime: NOW - 60 }

function sealingKey (kid: string): JWK {
  return { kty: 'oct', kid, alg: 'dir', k: randomBytes(32).toString('base64url') }
}

function keyringWith (...sealingKeys: JWK[]): Promise<Keyring> {
  return buildKeyring(signing, { keys: sealingKeys })
}

/** Asserts that unsealing `token` fails with US_ERR_SEAL_INVALID and nothing else. */
function rejected (t: Test, token: unknown, message?: string, ring: Keyring = keys): void {
  let err: unknown
  try {
    unseal(ring, 'session', token as string, NOW)
  } catch (thrown) {
    err = thrown
  }
  t.ok(isUnderstudyError(err, 'US_ERR_SEAL_INVALID'), message ?? `rejects ${String(token).slice(0, 40)}`, { err })
}

function replaceSegment (token: string, index: number, change: (bytes: Buffer) => Buffer | string): string {
  const parts = token.split('.')
  const changed = change(Buffer.from(parts[index]!, 'base64url'))
  parts[index] = typeof changed === 'string' ? changed : changed.toString('base64url')
  return parts.join('.')
}

t.test('a sealed payload opens to the same payload with its kind and expiry', async (t) => {
  const token = seal(keys, 'session', payload, LATER)
  t.equal(token.split('.').length, 5, 'a compact JWE')
  const opened = await unseal<typeof payload>(keys, 'session', token, NOW)
  t.same(opened, { ...payload, knd: 'session', exp: LATER })
})

t.test('a sealed token is a standard compact JWE: jose opens it, and it opens what jose seals', async (t) => {
  const token = seal(keys, 'session', payload, LATER)
  const { plaintext, protectedHeader } = await compactDecrypt(token, keys.sealer.key)
  t.same(protectedHeader, { alg: 'dir', enc: 'A256GCM', kid: keys.sealer.kid })
  t.same(JSON.parse(new TextDecoder().decode(plaintext)), { ...payload, knd: 'session', exp: LATER })
  const body = new TextEncoder().encode(JSON.stringify({ ...payload, knd: 'session', exp: LATER }))
  const byJose = await new CompactEncrypt(body).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: keys.sealer.kid }).encrypt(keys.sealer.key)
  t.same(unseal(keys, 'session', byJose, NOW), { ...payload, knd: 'session', exp: LATER })
})

t.test('the plaintext is the JSON of the payload with its kind and expiry last, byte for byte', async (t) => {
  const payloads: object[] = [payload, {}, { claims: { name: 'A "quoted" name', n: [1, 2] }, skipped: undefined }, { knd: 'code', sid: 's' }, { exp: 1, sid: 's' }]
  for (const p of payloads) {
    const { plaintext } = await compactDecrypt(seal(keys, 'session', p, LATER), keys.sealer.key)
    t.equal(new TextDecoder().decode(plaintext), JSON.stringify({ ...p, knd: 'session', exp: LATER }), JSON.stringify(p))
  }
})

t.test('the payload cannot override the kind or the expiry', async (t) => {
  const token = seal(keys, 'session', { knd: 'code', exp: LATER + 10_000 }, LATER)
  t.equal((unseal(keys, 'session', token, NOW)).exp, LATER)
  t.throws(() => unseal(keys, 'code', token, NOW), { code: 'US_ERR_SEAL_INVALID' })
})

t.test('a token of another kind is rejected', async (t) => {
  for (const kind of ['code', 'refresh', 'tx'] as const) {
    const token = seal(keys, kind, payload, LATER)
    t.throws(() => unseal(keys, 'session', token, NOW), { code: 'US_ERR_SEAL_INVALID', message: /not a session/ }, kind)
  }
})

t.test('an expired token is rejected from its expiry second on', async (t) => {
  const token = seal(keys, 'session', payload, LATER)
  t.doesNotThrow(() => unseal(keys, 'session', token, LATER - 1))
  t.throws(() => unseal(keys, 'session', token, LATER), { code: 'US_ERR_SEAL_INVALID', message: /expired/ })
  t.throws(() => unseal(keys, 'session', token, LATER + 86400), { code: 'US_ERR_SEAL_INVALID', message: /expired/ })
})

t.test('a token with a flipped bit in any part is rejected', async (t) => {
  const token = seal(keys, 'session', payload, LATER)
  // Parts: protected header, (empty) encrypted key, IV, ciphertext, tag.
  for (const index of [0, 2, 3, 4]) {
    const length = Buffer.from(token.split('.')[index]!, 'base64url').length
    for (const byte of [0, Math.floor(length / 2), length - 1]) {
      const flipped = replaceSegment(token, index, (bytes) => { bytes[byte]! ^= 0x01; return bytes })
      rejected(t, flipped, `part ${index} byte ${byte}`)
    }
  }
  rejected(t, replaceSegment(token, 1, () => 'AAAA'), 'a non-empty encrypted key')
})

t.test('a truncated token is rejected', async (t) => {
  const token = seal(keys, 'session', payload, LATER)
  for (const length of [1, 10, token.indexOf('.'), token.indexOf('.') + 1, Math.floor(token.length / 2), token.length - 4, token.length - 1]) {
    rejected(t, token.slice(0, length), `first ${length} characters`)
  }
  rejected(t, token.split('.').slice(0, 4).join('.'), 'without its tag')
  rejected(t, replaceSegment(token, 3, (bytes) => bytes.subarray(0, bytes.length - 1)), 'ciphertext one byte short')
})

t.test('garbage and values that are not strings are rejected', async (t) => {
  const header = (h: object) => Buffer.from(JSON.stringify(h)).toString('base64url')
  const inputs: unknown[] = [
    '', 'x', '.', '....', '.....', 'a.b.c.d.e', 'a.b.c', '🙂.🙂.🙂.🙂.🙂', '\u0000'.repeat(20),
    `${header({ alg: 'dir', enc: 'A256GCM', kid: keys.sealer.kid })}....`,
    `${header({ alg: 'none' })}.e30.`,
    `${Buffer.from('not json').toString('base64url')}.a.b.c.d`,
    `${header([1, 2])}.a.b.c.d`,
    null, undefined, 42, {}, ['a'], Buffer.from('abc'),
  ]
  for (const input of inputs) rejected(t, input, `rejects ${JSON.stringify(input)}`)
})

t.test('huge input is rejected without being parsed', async (t) => {
  rejected(t, 'a'.repeat(1_000_000))
  const big = seal(keys, 'session', { blob: 'x'.repeat(20_000) }, LATER)
  rejected(t, big, 'a real token over the size limit')
})

t.test('a JWS or a JWE with another algorithm is rejected', async (t) => {
  const signer = keys.signer('ES256')!
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify({ ...payload, knd: 'session', exp: LATER })))
    .setProtectedHeader({ alg: 'ES256', kid: signer.kid }).sign(signer.key)
  rejected(t, jws, 'a signed token')
  const body = new TextEncoder().encode(JSON.stringify({ ...payload, knd: 'session', exp: LATER }))
  const a128 = await new CompactEncrypt(body).setProtectedHeader({ alg: 'dir', enc: 'A128GCM', kid: keys.sealer.kid }).encrypt(keys.sealer.key.subarray(0, 16))
  rejected(t, a128, 'A128GCM')
  const kw = await new CompactEncrypt(body).setProtectedHeader({ alg: 'A256KW', enc: 'A256GCM', kid: keys.sealer.kid }).encrypt(keys.sealer.key)
  rejected(t, kw, 'A256KW')
})

t.test('a token whose plaintext is not a JSON object is rejected', async (t) => {
  for (const plaintext of ['null', '42', '"session"', '[]', 'not json']) {
    const token = await new CompactEncrypt(new TextEncoder().encode(plaintext))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: keys.sealer.kid }).encrypt(keys.sealer.key)
    rejected(t, token, plaintext)
  }
})

t.test('random mutations never open to anything but the original and never throw another error', async (t) => {
  const token = seal(keys, 'session', payload, LATER)
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'
  let rejections = 0
  for (let i = 0; i < 300; i++) {
    const chars = [...token]
    for (let n = 1 + (i % 3); n > 0; n--) chars[Math.floor(Math.random() * chars.length)] = alphabet[Math.floor(Math.random() * alphabet.length)]!
    const mutated = chars.join('')
    try {
      // Base64url ignores the spare low bits of a segment's last character, so a mutation may decode to the same bytes.
      t.same(unseal(keys, 'session', mutated, NOW), { ...payload, knd: 'session', exp: LATER }, { diagnostic: false })
    } catch (err) {
      rejections++
      if (!isUnderstudyError(err, 'US_ERR_SEAL_INVALID')) t.fail('another error escaped', { err, mutated })
    }
  }
  t.ok(rejections > 250, `${rejections} of 300 mutations rejected`)
})

t.test('a token sealed with an old key still opens after a new key is put first', async (t) => {
  const oldKey = sealingKey('seal-old')
  const before = await keyringWith(oldKey)
  const token = seal(before, 'refresh', payload, LATER)

  const after = await keyringWith(sealingKey('seal-new'), oldKey)
  t.equal(after.sealer.kid, 'seal-new', 'the new first key seals')
  t.same(unseal(after, 'refresh', token, NOW), { ...payload, knd: 'refresh', exp: LATER })
  const resealed = seal(after, 'refresh', payload, LATER)
  t.equal(JSON.parse(Buffer.from(resealed.split('.')[0]!, 'base64url').toString()).kid, 'seal-new')
  rejected(t, resealed, 'the old keyring cannot open what the new key sealed', before)
})

t.test('a token sealed with a key that is no longer listed is rejected', async (t) => {
  const token = seal(await keyringWith(sealingKey('seal-retired')), 'session', payload, LATER)
  rejected(t, token, 'unknown kid', await keyringWith(sealingKey('seal-current')))
  t.throws(() => unseal(keys, 'session', token, NOW), { message: /unknown sealing key/ })
})

t.test('a token sealed with another key under a known kid is rejected', async (t) => {
  const forged = seal(await keyringWith(sealingKey(keys.sealer.kid)), 'session', payload, LATER)
  rejected(t, forged, 'forged with the right kid')
})
