import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createLocalJWKSet, exportJWK, exportSPKI, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK, type JWTHeaderParameters, type JWTPayload } from 'jose'
import t, { type Test } from 'tap'
import { isUnderstudyError, type UnderstudyError } from '../../src/errors.js'
import { idTokenAlgorithms, verifyIdToken, type IdTokenExpectations } from '../../src/upstream/connectors/oidc/id-token.js'
import { UpstreamKeys } from '../../src/upstream/connectors/oidc/keys.js'

const ISSUER = 'https://idp.example'
const EXPECTED: IdTokenExpectations = { issuer: ISSUER, clientId: 'gateway', nonce: 'n-1', algorithms: ['RS256', 'ES256'] }

interface KeyPair { kid: string, alg: 'RS256' | 'ES256', privateKey: CryptoKey, publicJwk: JWK }

async function keyPair (kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { kid, alg, privateKey, publicJwk: { ...await exportJWK(publicKey), kid, alg, use: 'sig' } }
}

const upstream = await keyPair('upstream-1')
const attacker = await keyPair('attacker-1')
const keys = createLocalJWKSet({ keys: [upstream.publicJwk] })
const claims = (extra: JWTPayload = {}): JWTPayload => ({ iss: ISSUER, aud: 'gateway', sub: 'alice', nonce: 'n-1', ...extra })

async function sign (payload: JWTPayload, key: KeyPair = upstream, header: Partial<JWTHeaderParameters> = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).setIssuedAt().setExpirationTime('5m').sign(key.privateKey)
}

async function rejected (t: Test, token: Promise<string> | string, expected: IdTokenExpectations = EXPECTED): Promise<UnderstudyError> {
  try {
    await verifyIdToken(await token, keys, expected)
  } catch (err) {
    if (isUnderstudyError(err, 'US_ERR_UPSTREAM_INVALID')) return err
    throw err
  }
  t.fail('the token was accepted')
  throw new Error('accepted')
}

const b64 = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')

t.test('a genuine ID token verifies and yields its payload', async (t) => {
  const payload = await verifyIdToken(await sign(claims({ email: 'alice@example.com' })), keys, EXPECTED)
  t.equal(payload.sub, 'alice')
  t.equal(payload.email, 'alice@example.com')
})

t.test('an unsigned ID token (alg none) is rejected', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  await rejected(t, `${b64({ alg: 'none' })}.${b64(claims({ iat: now, exp: now + 300 }))}.`)
})

t.test('an HS256 ID token keyed with the upstream public key is rejected', async (t) => {
  const pem = await exportSPKI(await importJWK(upstream.publicJwk, 'RS256') as CryptoKey)
  for (const secret of [pem, JSON.stringify(upstream.publicJwk)]) {
    const token = new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: upstream.kid }).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(secret))
    const err = await rejected(t, token)
    t.match(err.message, /ERR_JOSE_ALG_NOT_ALLOWED/)
  }
})

t.test('an ID token carrying the attacker\'s key in a jwk header is rejected', async (t) => {
  t.match((await rejected(t, sign(claims(), attacker, { jwk: attacker.publicJwk }))).message, /ERR_JWKS_NO_MATCHING_KEY/)
  t.match((await rejected(t, sign(claims(), attacker, { jwk: attacker.publicJwk, kid: upstream.kid }))).message, /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/)
})

t.test('jku and x5u headers are never fetched', async (t) => {
  let hits = 0
  const server = createServer((_req, res) => { hits++; res.end(JSON.stringify({ keys: [attacker.publicJwk] })) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`
  await rejected(t, sign(claims(), attacker, { jku: url, x5u: url }))
  t.equal(hits, 0)
})

t.test('an ID token signed with an algorithm the upstream does not advertise is rejected', async (t) => {
  const es = await keyPair('upstream-es', 'ES256')
  const both = createLocalJWKSet({ keys: [upstream.publicJwk, es.publicJwk] })
  await t.rejects(verifyIdToken(await sign(claims(), es), both, { ...EXPECTED, algorithms: ['RS256'] }), { code: 'US_ERR_UPSTREAM_INVALID' })
  t.equal((await verifyIdToken(await sign(claims(), es), both, EXPECTED)).sub, 'alice')
})

t.test('an ID token for another issuer, audience or nonce is rejected', async (t) => {
  await rejected(t, sign(claims({ iss: 'https://attacker.example' })))
  await rejected(t, sign(claims({ aud: 'another-client' })))
  await rejected(t, sign(claims({ nonce: 'n-2' })))
  await rejected(t, sign(claims({ nonce: undefined })))
})

t.test('an ID token whose azp is another client, or with several audiences and no azp, is rejected', async (t) => {
  await rejected(t, sign(claims({ azp: 'another-client' })))
  await rejected(t, sign(claims({ aud: ['gateway', 'another-client'] })))
  t.equal((await verifyIdToken(await sign(claims({ aud: ['gateway', 'another-client'], azp: 'gateway' })), keys, EXPECTED)).sub, 'alice')
})

t.test('an expired ID token, or one without sub, is rejected', async (t) => {
  await rejected(t, new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: upstream.kid }).setIssuedAt(Math.floor(Date.now() / 1000) - 3600).setExpirationTime('-10m').sign(upstream.privateKey))
  await rejected(t, sign(claims({ sub: undefined })))
})

/** An ID token issued at `at` on an injected clock, verified at the same instant. */
const CLOCK = 2_000_000_000
async function signedAt (extra: JWTPayload, at = CLOCK): Promise<string> {
  return new SignJWT(claims(extra)).setProtectedHeader({ alg: 'RS256', kid: upstream.kid }).setIssuedAt(at).setExpirationTime(at + 300).sign(upstream.privateKey)
}
const AT_CLOCK: IdTokenExpectations = { ...EXPECTED, now: CLOCK }

t.test('auth_time is the upstream\'s, in whole seconds, and one a little ahead of the clock counts as now', async (t) => {
  t.equal((await verifyIdToken(await signedAt({ auth_time: CLOCK - 7200 }), keys, AT_CLOCK)).auth_time, CLOCK - 7200, 'two hours ago stays two hours ago')
  t.equal((await verifyIdToken(await signedAt({ auth_time: CLOCK - 60.75 }), keys, AT_CLOCK)).auth_time, CLOCK - 61)
  t.equal((await verifyIdToken(await signedAt({ auth_time: CLOCK + 20 }), keys, AT_CLOCK)).auth_time, CLOCK, 'clock skew: never later than now')
  t.equal((await verifyIdToken(await signedAt({}), keys, AT_CLOCK)).auth_time, undefined, 'absent when the upstream gives none')
})

t.test('an auth_time that is not a time, or lies in the future beyond clock skew, is rejected', async (t) => {
  for (const authTime of ['1700000000', null, -5, CLOCK + 31, CLOCK + 86_400, [CLOCK], true]) {
    const err = await rejected(t, signedAt({ auth_time: authTime as never }), AT_CLOCK)
    t.match(err.message, /auth_time/, JSON.stringify(authTime))
  }
})

t.test('amr is a list of strings, passed as it is; any other amr is rejected', async (t) => {
  t.same((await verifyIdToken(await signedAt({ amr: ['pwd', 'mfa'] }), keys, AT_CLOCK)).amr, ['pwd', 'mfa'])
  t.equal((await verifyIdToken(await signedAt({}), keys, AT_CLOCK)).amr, undefined)
  for (const amr of ['pwd', [1], [''], { 0: 'pwd' }, null]) {
    t.match((await rejected(t, signedAt({ amr: amr as never }), AT_CLOCK)).message, /amr/, JSON.stringify(amr))
  }
})

t.test('only asymmetric advertised algorithms are pinned, RS256 when none are advertised', async (t) => {
  t.same(idTokenAlgorithms(['none', 'HS256', 'RS256', 'ES256', 'EdDSA']), ['RS256', 'ES256', 'EdDSA'])
  t.same(idTokenAlgorithms(undefined), ['RS256'])
  await t.rejects(verifyIdToken(await sign(claims()), keys, { ...EXPECTED, algorithms: idTokenAlgorithms(['HS256']) }), { code: 'US_ERR_UPSTREAM_INVALID' })
})

t.test('an unknown kid makes the upstream JWKS be fetched again, at most once per cooldown', async (t) => {
  const rotated = await keyPair('upstream-2')
  let served: JWK[] = [upstream.publicJwk]
  let fetches = 0
  const server = createServer((_req, res) => { fetches++; res.end(JSON.stringify({ keys: served })) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const jwksUri = async (): Promise<string> => `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`

  const cooling = new UpstreamKeys(jwksUri, { timeoutMs: 1000, ttlMs: 3_600_000 })
  t.equal((await verifyIdToken(await sign(claims()), cooling.resolver(), EXPECTED)).sub, 'alice')
  t.equal(fetches, 1)
  await t.rejects(verifyIdToken(await sign(claims(), rotated), cooling.resolver(), EXPECTED), { code: 'US_ERR_UPSTREAM_INVALID' })
  t.equal(fetches, 1, 'no second fetch within the cooldown')

  const cooled = new UpstreamKeys(jwksUri, { timeoutMs: 1000, ttlMs: 3_600_000, cooldownMs: 0 })
  await verifyIdToken(await sign(claims()), cooled.resolver(), EXPECTED)
  served = [upstream.publicJwk, rotated.publicJwk]
  t.equal((await verifyIdToken(await sign(claims(), rotated), cooled.resolver(), EXPECTED)).sub, 'alice', 'the rotated key is picked up')
  t.equal(fetches, 3, 'by a single fetch')
  await t.rejects(verifyIdToken(await sign(claims(), attacker), cooled.resolver(), EXPECTED), { code: 'US_ERR_UPSTREAM_INVALID' })
  t.equal(fetches, 4, 'an unknown kid costs one fetch, not a loop')
})
