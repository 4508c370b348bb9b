import { compactVerify } from 'jose'
import t from 'tap'
import { generateKeySets } from '../../src/keys/generate.js'
import { SIGNING_ALGS, buildKeyring } from '../../src/keys/keyring.js'
import { signJwt } from '../../src/keys/sign.js'

t.test('tokens are signed with every algorithm through node:crypto without a deprecation warning', async (t) => {
  const warnings: Error[] = []
  const onWarning = (warning: Error) => { warnings.push(warning) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const { signing, sealing } = await generateKeySets()
  const keyring = await buildKeyring(signing, sealing)
  for (const alg of SIGNING_ALGS) {
    const signer = keyring.signer(alg)!
    const { payload, protectedHeader } = await compactVerify(await signJwt(signer, 'at+jwt', { sub: 'alice' }), signer.publicKey, { algorithms: [alg] })
    t.same(protectedHeader, { alg, kid: signer.kid, typ: 'at+jwt' }, `${alg}: the header`)
    t.same(JSON.parse(new TextDecoder().decode(payload)), { sub: 'alice' }, `${alg}: jose verifies it`)
  }
  // process.emitWarning emits on the next tick.
  await new Promise((resolve) => setImmediate(resolve))
  // Node 24 deprecates handing node:crypto a CryptoKey (DEP0203) or making a KeyObject from a non-extractable one (DEP0204).
  t.same(warnings.map((w) => `${w.name}: ${w.message}`), [], 'no warning')
})
