import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { DEV_KEY_THUMBPRINTS, holdsDevKey, isLocalIssuer, keyThumbprints } from '../../src/keys/dev-keys.js'
import { generateKeySets } from '../../src/keys/generate.js'

const DEV = fileURLToPath(new URL('../../certs/dev/', import.meta.url))
const K8S = fileURLToPath(new URL('../../k8s/', import.meta.url))

t.test('the dev key thumbprints are exactly those of the keys committed in certs/dev', async (t) => {
  const found = (await Promise.all(['signing.jwks.json', 'sealing.jwks.json', 'tls.key'].map((name) => keyThumbprints(join(DEV, name))))).flat()
  t.equal(found.length, 5, 'three signing keys, one sealing key, the TLS key')
  t.same(new Set(found), DEV_KEY_THUMBPRINTS, 'regenerated dev keys need their thumbprints in src/keys/dev-keys.ts')
})

t.test('fresh keys are not dev keys; a set holding one dev key among them is', async (t) => {
  const dir = t.testdir({})
  const fresh = await generateKeySets()
  const dev = JSON.parse(await readFile(join(DEV, 'signing.jwks.json'), 'utf8')) as { keys: object[] }
  await writeFile(join(dir, 'fresh.json'), JSON.stringify(fresh.signing))
  await writeFile(join(dir, 'mixed.json'), JSON.stringify({ keys: [...fresh.signing.keys, { ...dev.keys[2], kid: 'renamed' }] }))
  await writeFile(join(dir, 'garbage.json'), '{"keys": [1, null, {"kty": "EC"}]}')
  t.notOk(await holdsDevKey(join(dir, 'fresh.json')))
  t.ok(await holdsDevKey(join(dir, 'mixed.json')), 'found by thumbprint, whatever its kid')
  t.notOk(await holdsDevKey(join(dir, 'garbage.json')), 'unusable keys are the keyring\'s to report')
  t.notOk(await holdsDevKey(join(dir, 'missing.json')))
})

t.test('only an issuer on localhost, 127.0.0.1 or [::1] is local', async (t) => {
  const cases: Array<[string, boolean]> = [
    ['http://localhost:8080', true],
    ['http://127.0.0.1:9000/base', true],
    ['https://localhost', true],
    ['http://[::1]:8080', true],
    ['https://login.example.com', false],
    ['http://localhost.example.com', false],
    ['http://127.0.0.1.nip.io', false],
    ['http://10.0.0.1', false],
    ['not a url', false],
  ]
  for (const [issuer, local] of cases) t.equal(isLocalIssuer(issuer), local, issuer)
})

t.test('no file under k8s/ holds the private part of a committed dev key', async (t) => {
  const secrets = new Set<string>()
  for (const name of ['signing.jwks.json', 'sealing.jwks.json']) {
    for (const jwk of (JSON.parse(await readFile(join(DEV, name), 'utf8')) as { keys: Array<Record<string, string>> }).keys) {
      for (const member of ['d', 'k']) if (jwk[member]) secrets.add(jwk[member])
    }
  }
  const tlsKey = (await readFile(join(DEV, 'tls.key'), 'utf8')).split('\n').filter((line) => line && !line.startsWith('-----'))
  const files = (await readdir(K8S, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
  t.ok(files.length > 0)
  for (const file of files) {
    const text = await readFile(file, 'utf8')
    t.notOk([...secrets, ...tlsKey].some((secret) => text.includes(secret)), file.slice(K8S.length))
  }
})
