import { readFile } from 'node:fs/promises'
import t, { type Test } from 'tap'
import { CEREMONY_LIFETIME } from '../../src/backup/challenges.js'
import { isPasskeyError, PASSKEY_REFUSALS, type PasskeyRefusal } from '../../src/backup/passkey-error.js'
import { passkeyName } from '../../src/backup/passkey-name.js'
import {
  amrFor, authenticationOptions, registrationOptions, rpFor, userHandleFor, verifyAuthentication, verifyRegistration,
  type PasskeyDeps, type PasskeyLookup,
} from '../../src/backup/passkeys.js'
import type { Passkey, Person } from '../../src/directory/directory.js'
import { isUnderstudyError } from '../../src/errors.js'
import { generateKeySets } from '../../src/keys/generate.js'
import { buildKeyring } from '../../src/keys/keyring.js'
import { subjectFor } from '../../src/sessions/session.js'
import { MemoryStore } from '../../src/store/memory.js'
import { testClock, type TestClock } from '../helpers/clock.js'
import { SoftwareAuthenticator, type AuthenticatorKind } from '../helpers/software-authenticator.js'

const { signing, sealing } = await generateKeySets()
const keys = await buildKeyring(signing, sealing)
const ISSUER = 'http://localhost:3000'
const rp = rpFor(ISSUER)
const alice: Person = { sub: subjectFor('kakao', '42'), provider: 'kakao', upstreamSub: '42', createdAt: 1_700_000_000 }
const bob: Person = { sub: subjectFor('kakao', '43'), provider: 'kakao', upstreamSub: '43', createdAt: 1_700_000_000 }
const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'

/** A gateway's passkey side on a test clock, with an in-memory stand-in for the directory's passkey lookup. */
interface Fixture { deps: PasskeyDeps, clock: TestClock, passkeys: Map<string, { passkey: Passkey, person: Person }>, lookup: PasskeyLookup }

function fixture (t: Test): Fixture {
  const clock = testClock()
  const store = new MemoryStore({ now: () => clock.now() * 1000 })
  t.teardown(() => store.close())
  const passkeys = new Map<string, { passkey: Passkey, person: Person }>()
  return { deps: { keys, store, now: clock.now, rp }, clock, passkeys, lookup: async (id) => passkeys.get(id) }
}

/** Adds a passkey for `person` through the whole registration ceremony and stores it as the directory would. */
async function enrol (f: Fixture, person: Person, kind: AuthenticatorKind = {}): Promise<{ authenticator: SoftwareAuthenticator, passkey: Passkey }> {
  const authenticator = SoftwareAuthenticator.create(rp.id, rp.origin, kind)
  const { options, ceremony } = await registrationOptions(f.deps, person, [], 'alice@example.com')
  const passkey = await verifyRegistration(f.deps, ceremony, authenticator.register(options), { sub: person.sub })
  f.passkeys.set(passkey.id, { passkey, person })
  return { authenticator, passkey }
}

/** Asserts that `attempt` is refused with `reason`, as a PasskeyError (US_ERR_PASSKEY_REFUSED). */
async function refused (t: Test, attempt: Promise<unknown>, reason: PasskeyRefusal, message = `refused: ${reason}`): Promise<void> {
  const err = await attempt.then(() => undefined, (thrown: unknown) => thrown)
  t.ok(isPasskeyError(err, reason), message, { err })
  t.ok(isUnderstudyError(err, 'US_ERR_PASSKEY_REFUSED'), 'with the passkey code')
}

t.test('the relying party is the issuer\'s host and origin, and an IP address is refused', async (t) => {
  t.same(rpFor('http://localhost:3000'), { id: 'localhost', origin: 'http://localhost:3000', name: 'understudy' })
  t.same(rpFor('https://login.example.com/auth/', 'Example'), { id: 'login.example.com', origin: 'https://login.example.com', name: 'Example' })
  for (const issuer of ['http://127.0.0.1:3000', 'https://[::1]:8443', 'https://10.0.0.7']) {
    t.throws(() => rpFor(issuer), { code: 'US_ERR_CONFIG_INVALID', message: /IP address/ }, issuer)
  }
})

t.test('registration options ask for a discoverable, user-verified passkey with an opaque, stable user handle', async (t) => {
  const f = fixture(t)
  const existing = [{ id: 'AAEC', transports: ['usb'] }, { id: 'AwQF', transports: [] }] as Passkey[]
  const { options, ceremony } = await registrationOptions(f.deps, alice, existing, 'alice@example.com')
  t.same(options.rp, { id: 'localhost', name: 'understudy' })
  t.same(options.authenticatorSelection, { residentKey: 'required', requireResidentKey: true, userVerification: 'required' })
  t.equal(options.attestation, 'none')
  t.same(options.excludeCredentials, [{ id: 'AAEC', type: 'public-key', transports: ['usb'] }, { id: 'AwQF', type: 'public-key', transports: [] }])
  t.same(options.pubKeyCredParams.map((param) => param.alg), [-7, -8, -257])
  t.equal(options.timeout, CEREMONY_LIFETIME * 1000)
  t.match(options.challenge, /^[A-Za-z0-9_-]{43}$/, '32 random bytes')
  t.equal(options.user.name, 'alice@example.com')
  t.equal(options.user.id, Buffer.from(userHandleFor(rp, alice.sub)).toString('base64url'))
  t.not(Buffer.from(options.user.id, 'base64url').toString('utf8'), alice.sub, 'not the sub')
  t.not(options.user.id, alice.sub)
  const again = await registrationOptions(f.deps, alice, [], 'alice')
  t.equal(again.options.user.id, options.user.id, 'the same person always gets the same handle')
  t.not(again.options.challenge, options.challenge, 'a new challenge each time')
  t.not(again.ceremony, ceremony)
  t.not(Buffer.from(userHandleFor(rp, bob.sub)).toString('base64url'), options.user.id, 'another person gets another handle')
  t.not(Buffer.from(userHandleFor(rpFor('https://other.example'), alice.sub)).toString('base64url'), options.user.id, 'another RP ID gets another handle')
})

t.test('a device-bound passkey enrols, then logs its person in with amr hwk', async (t) => {
  const f = fixture(t)
  const authenticator = SoftwareAuthenticator.create(rp.id, rp.origin)
  const { options, ceremony } = await registrationOptions(f.deps, alice, [], 'alice')
  const passkey = await verifyRegistration(f.deps, ceremony, authenticator.register(options), { sub: alice.sub, userAgent: FIREFOX_LINUX })
  const held = authenticator.credentials[0]!
  t.equal(passkey.id, held.id)
  t.equal(passkey.sub, alice.sub)
  t.equal(passkey.counter, 0)
  t.same(passkey.transports, ['internal', 'hybrid'])
  t.equal(passkey.deviceType, 'singleDevice')
  t.equal(passkey.backedUp, false)
  t.equal(passkey.createdAt, f.clock.now())
  t.match(passkey.name, /^Passkey on Firefox \(Linux\), \d{1,2} [A-Z][a-z]{2} \d{4}$/)
  t.ok(passkey.publicKey instanceof Uint8Array && passkey.publicKey.length > 64, 'the COSE public key')
  f.passkeys.set(passkey.id, { passkey, person: alice })

  const login = await authenticationOptions(f.deps)
  t.same(login.options.allowCredentials, [], 'discoverable: no credential list')
  t.equal(login.options.userVerification, 'required')
  t.equal(login.options.rpId, 'localhost')
  t.equal(login.options.timeout, CEREMONY_LIFETIME * 1000)
  const result = await verifyAuthentication(f.deps, login.ceremony, authenticator.authenticate(login.options), f.lookup)
  t.same(result.person, alice)
  t.equal(result.passkey.id, passkey.id)
  t.equal(result.newCounter, 1)
  t.same(result.amr, ['hwk', 'user'])
})

t.test('a synced passkey logs in with amr swk, and a counter that stays 0 is accepted every time', async (t) => {
  const f = fixture(t)
  const { authenticator, passkey } = await enrol(f, alice, { synced: true })
  t.equal(passkey.deviceType, 'multiDevice')
  t.equal(passkey.backedUp, true)
  t.equal(passkey.name.startsWith('Passkey added '), true, 'no user agent: named by date only')
  for (const attempt of [1, 2]) {
    const login = await authenticationOptions(f.deps)
    const result = await verifyAuthentication(f.deps, login.ceremony, authenticator.authenticate(login.options), f.lookup)
    t.equal(result.newCounter, 0, `login ${attempt}: counter 0`)
    t.same(result.amr, ['swk', 'user'])
  }
  t.same(amrFor('singleDevice'), ['hwk', 'user'])
  t.same(amrFor('multiDevice'), ['swk', 'user'])
})

t.test('a response from another origin is refused', async (t) => {
  const f = fixture(t)
  const phished = SoftwareAuthenticator.create(rp.id, 'https://evil.example')
  const reg = await registrationOptions(f.deps, alice, [], 'alice')
  await refused(t, verifyRegistration(f.deps, reg.ceremony, phished.register(reg.options), { sub: alice.sub }), 'origin')
  const { authenticator } = await enrol(f, alice)
  const login = await authenticationOptions(f.deps)
  await refused(t, verifyAuthentication(f.deps, login.ceremony, authenticator.authenticate(login.options, { origin: 'http://localhost:3001' }), f.lookup), 'origin')
})

t.test('a response signed for another RP ID is refused', async (t) => {
  const f = fixture(t)
  const reg = await registrationOptions(f.deps, alice, [], 'alice')
  const stranger = SoftwareAuthenticator.create(rp.id, rp.origin)
  await refused(t, verifyRegistration(f.deps, reg.ceremony, stranger.register(reg.options, { rpId: 'evil.example' }), { sub: alice.sub }), 'rp-id')
  const { authenticator } = await enrol(f, alice)
  const login = await authenticationOptions(f.deps)
  await refused(t, verifyAuthentication(f.deps, login.ceremony, authenticator.authenticate(login.options, { rpId: 'example.com' }), f.lookup), 'rp-id')
})

t.test('a response without user verification is refused', async (t) => {
  const f = fixture(t)
  const reg = await registrationOptions(f.deps, alice, [], 'alice')
  const unverified = SoftwareAuthenticator.create(rp.id, rp.origin)
  await refused(t, verifyRegistration(f.deps, reg.ceremony, unverified.register(reg.options, { userVerified: false }), { sub: alice.sub }), 'user-verification')
  const { authenticator } = await enrol(f, alice)
  const login = await authenticationOptions(f.deps)
  await refused(t, verifyAuthentication(f.deps, login.ceremony, authenticator.authenticate(login.options, { userVerified: false }), f.lookup), 'user-verification')
})

t.test('a ceremony is used once: replaying it is refused even with a valid response', async (t) => {
  const f = fixture(t)
  const authenticator = SoftwareAuthenticator.create(rp.id, rp.origin)
  const reg = await registrationOptions(f.deps, alice, [], 'alice')
  const passkey = await verifyRegistration(f.deps, reg.ceremony, authenticator.register(reg.options), { sub: alice.sub })
  f.passkeys.set(passkey.id, { passkey, person: alice })
  const other = SoftwareAuthenticator.create(rp.id, rp.origin)
  await refused(t, verifyRegistration(f.deps, reg.ceremony, other.register(reg.options), { sub: alice.sub }), 'replayed', 'registration replayed')
  const login = await authenticationOptions(f.deps)
  await verifyAuthentication(f.deps, login.ceremony, authenticator.authenticate(login.options), f.lookup)
  await refused(t, verifyAuthentication(f.deps, login.ceremony, authenticator.authenticate(login.options), f.lookup), 'replayed', 'login replayed')
})

t.test('a ceremony opens only for its own purpose and person', async (t) => {
  const f = fixture(t)
  const { authenticator } = await enrol(f, alice)
  const reg = await registrationOptions(f.deps, alice, [], 'alice')
  await refused(t, verifyAuthentication(f.deps, reg.ceremony, authenticator.authenticate({ challenge: reg.options.challenge }), f.lookup), 'ceremony', 'a registration ceremony does not log in')
  const login = await authenticationOptions(f.deps)
  await refused(t, verifyRegistration(f.deps, login.ceremony, SoftwareAuthenticator.create(rp.id, rp.origin).register({ ...reg.options, challenge: login.options.challenge }), { sub: alice.sub }), 'ceremony', 'a login ceremony does not register')
  const mine = await registrationOptions(f.deps, alice, [], 'alice')
  await refused(t, verifyRegistration(f.deps, mine.ceremony, SoftwareAuthenticator.create(rp.id, rp.origin).register(mine.options), { sub: bob.sub }), 'ceremony', 'alice\'s ceremony does not add a passkey to bob')
  for (const junk of [undefined, '', 'not-a-ceremony', login.ceremony.slice(0, -2) + 'AA']) {
    await refused(t, verifyAuthentication(f.deps, junk, {}, f.lookup), 'ceremony', `ceremony ${String(junk).slice(0, 20)}`)
  }
})

t.test('a response that signs another challenge, or is of the other ceremony type, is refused', async (t) => {
  const f = fixture(t)
  const { authenticator } = await enrol(f, alice)
  const first = await authenticationOptions(f.deps)
  const second = await authenticationOptions(f.deps)
  await refused(t, verifyAuthentication(f.deps, second.ceremony, authenticator.authenticate(first.options), f.lookup), 'challenge')
  const third = await authenticationOptions(f.deps)
  await refused(t, verifyAuthentication(f.deps, third.ceremony, authenticator.authenticate(third.options, { type: 'webauthn.create' }), f.lookup), 'ceremony')
})

t.test('a ceremony expires after its lifetime', async (t) => {
  const f = fixture(t)
  // Held still: a real second ending between a ceremony's start and its last second must not expire it.
  t.teardown(f.clock.freeze())
  const { authenticator } = await enrol(f, alice)
  const inTime = await authenticationOptions(f.deps)
  f.clock.advance(CEREMONY_LIFETIME - 1)
  await verifyAuthentication(f.deps, inTime.ceremony, authenticator.authenticate(inTime.options), f.lookup)
  const late = await authenticationOptions(f.deps)
  f.clock.advance(CEREMONY_LIFETIME)
  await refused(t, verifyAuthentication(f.deps, late.ceremony, authenticator.authenticate(late.options), f.lookup), 'expired')
  const reg = await registrationOptions(f.deps, alice, [], 'alice')
  f.clock.advance(CEREMONY_LIFETIME)
  await refused(t, verifyRegistration(f.deps, reg.ceremony, SoftwareAuthenticator.create(rp.id, rp.origin).register(reg.options), { sub: alice.sub }), 'expired')
  const ancient = await authenticationOptions(f.deps)
  f.clock.advance(10 * CEREMONY_LIFETIME)
  await refused(t, verifyAuthentication(f.deps, ancient.ceremony, authenticator.authenticate(ancient.options), f.lookup), 'ceremony', 'long expired: it no longer opens')
})

t.test('a signature counter that does not move forward is refused with reason counter', async (t) => {
  const f = fixture(t)
  const { authenticator, passkey } = await enrol(f, alice)
  const first = await authenticationOptions(f.deps)
  const result = await verifyAuthentication(f.deps, first.ceremony, authenticator.authenticate(first.options, { counter: 5 }), f.lookup)
  t.equal(result.newCounter, 5)
  f.passkeys.set(passkey.id, { passkey: { ...passkey, counter: 5 }, person: alice })
  for (const counter of [5, 4, 0]) {
    const login = await authenticationOptions(f.deps)
    await refused(t, verifyAuthentication(f.deps, login.ceremony, authenticator.authenticate(login.options, { counter }), f.lookup), 'counter', `counter 5 then ${counter}`)
  }
  const next = await authenticationOptions(f.deps)
  t.equal((await verifyAuthentication(f.deps, next.ceremony, authenticator.authenticate(next.options, { counter: 6 }), f.lookup)).newCounter, 6, 'forward again: accepted')
  const forged = await authenticationOptions(f.deps)
  const response = authenticator.authenticate(forged.options, { counter: 1 })
  response.response.signature = authenticator.authenticate(forged.options, { counter: 2 }).response.signature
  await refused(t, verifyAuthentication(f.deps, forged.ceremony, response, f.lookup), 'verification', 'a bad signature is never taken for a clone')
})

t.test('a credential the directory does not know is refused', async (t) => {
  const f = fixture(t)
  const { authenticator, passkey } = await enrol(f, alice)
  f.passkeys.delete(passkey.id)
  const login = await authenticationOptions(f.deps)
  await refused(t, verifyAuthentication(f.deps, login.ceremony, authenticator.authenticate(login.options), f.lookup), 'unknown-credential')
})

t.test('a passkey whose owner is not the user its handle names is refused', async (t) => {
  const f = fixture(t)
  const { authenticator, passkey } = await enrol(f, alice)
  f.passkeys.set(passkey.id, { passkey: { ...passkey, sub: bob.sub }, person: bob })
  const login = await authenticationOptions(f.deps)
  await refused(t, verifyAuthentication(f.deps, login.ceremony, authenticator.authenticate(login.options), f.lookup), 'verification')
})

t.test('a signature by another key is refused, and the library\'s words stay in the cause', async (t) => {
  const f = fixture(t)
  const { authenticator, passkey } = await enrol(f, alice)
  const impostor = await enrol(f, alice)
  f.passkeys.set(passkey.id, { passkey: { ...passkey, publicKey: impostor.passkey.publicKey }, person: alice })
  const login = await authenticationOptions(f.deps)
  const err = await verifyAuthentication(f.deps, login.ceremony, authenticator.authenticate(login.options), f.lookup).catch((thrown: unknown) => thrown)
  t.ok(isPasskeyError(err, 'verification'), 'refused', { err })
  t.equal((err as Error).message, 'passkey refused (verification): the signature does not verify')
})

t.test('responses that are not WebAuthn credentials are refused as malformed', async (t) => {
  const f = fixture(t)
  const { authenticator } = await enrol(f, alice)
  const valid = (options: Parameters<SoftwareAuthenticator['authenticate']>[0]) => authenticator.authenticate(options) as unknown as Record<string, unknown> & { response: Record<string, unknown> }
  const cases: Array<[string, (options: Parameters<SoftwareAuthenticator['authenticate']>[0]) => unknown]> = [
    ['null', () => null],
    ['a string', () => 'credential'],
    ['an empty object', () => ({})],
    ['rawId differs from id', (o) => ({ ...valid(o), rawId: 'AAAA' })],
    ['a credential id over 1023 bytes', (o) => ({ ...valid(o), id: 'A'.repeat(1400), rawId: 'A'.repeat(1400) })],
    ['a credential id over 192 bytes, which the account page and the admin API could not name to remove', (o) => ({ ...valid(o), id: 'A'.repeat(300), rawId: 'A'.repeat(300) })],
    ['a credential id that is not base64url', (o) => ({ ...valid(o), id: 'a+b/c=', rawId: 'a+b/c=' })],
    ['type is not public-key', (o) => ({ ...valid(o), type: 'password' })],
    ['no signature', (o) => { const r = valid(o); return { ...r, response: { ...r.response, signature: undefined } } }],
    ['client data is not JSON', (o) => { const r = valid(o); return { ...r, response: { ...r.response, clientDataJSON: 'bm90IGpzb24' } } }],
    ['authenticator data too short', (o) => { const r = valid(o); return { ...r, response: { ...r.response, authenticatorData: 'AAAA' } } }],
  ]
  for (const [name, make] of cases) {
    const login = await authenticationOptions(f.deps)
    await refused(t, verifyAuthentication(f.deps, login.ceremony, make(login.options), f.lookup), 'malformed', name)
  }
  const reg = await registrationOptions(f.deps, alice, [], 'alice')
  const response = SoftwareAuthenticator.create(rp.id, rp.origin).register(reg.options)
  await refused(t, verifyRegistration(f.deps, reg.ceremony, { ...response, response: { ...response.response, attestationObject: 'oA' } }, { sub: alice.sub }), 'malformed', 'an attestation object without authData')
})

t.test('a new passkey is named after the browser and system that added it', async (t) => {
  const day = Date.UTC(2026, 11, 3, 12) / 1000
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'Passkey added 3 Dec 2026'],
    ['curl/8.5.0', 'Passkey added 3 Dec 2026'],
    [FIREFOX_LINUX, 'Passkey on Firefox (Linux), 3 Dec 2026'],
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36', 'Passkey on Chrome (Linux), 3 Dec 2026'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0', 'Passkey on Edge (Windows), 3 Dec 2026'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1', 'Passkey on Safari (iOS), 3 Dec 2026'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', 'Passkey on Safari (macOS), 3 Dec 2026'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36', 'Passkey on Chrome (Android), 3 Dec 2026'],
  ]
  for (const [userAgent, name] of cases) t.equal(passkeyName(day, userAgent), name, userAgent ?? 'no user agent')
  t.equal(passkeyName(Date.UTC(2027, 8, 30) / 1000), 'Passkey added 30 Sep 2027')
})

t.test('docs/errors.md explains every refusal reason', async (t) => {
  const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  const row = doc.split('\n').find((line) => line.startsWith('| `US_ERR_PASSKEY_REFUSED` |'))
  t.ok(row, 'the code has a row')
  for (const reason of PASSKEY_REFUSALS) t.ok(row?.includes(`\`${reason}\``), `${reason} is documented`)
})
