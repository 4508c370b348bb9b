import { readFileSync } from 'node:fs'
import { chmod } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { checkConfigCommand } from '../../src/cli/check-config.js'
import { generateKeySets } from '../../src/keys/generate.js'

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url))
const EXAMPLE = readFileSync(root('test/config/fixtures/design-example.yaml'), 'utf8')
const DEV_KEYS = {
  'signing.jwks.json': readFileSync(root('certs/dev/signing.jwks.json'), 'utf8'),
  'sealing.jwks.json': readFileSync(root('certs/dev/sealing.jwks.json'), 'utf8'),
}
const generated = await generateKeySets()
/** Keys of this run, where the example config looks for them. */
const KEYS = { 'signing.jwks.json': JSON.stringify(generated.signing), 'sealing.jwks.json': JSON.stringify(generated.sealing) }
const ENV = {
  UNDERSTUDY_ADMIN_TOKEN: 'check-config-admin-token-of-32-characters',
  KAKAO_CLIENT_ID: 'kakao-id',
  KAKAO_CLIENT_SECRET: 'kakao-secret',
  NAVER_CLIENT_ID: 'naver-id',
  NAVER_CLIENT_SECRET: 'naver-secret',
  SHOP_SECRET: 'shop-secret',
}

/** What was written to a captured stream. */
const text = (stream: PassThrough) => String(stream.read() ?? '')

/** Runs check-config on `config` (YAML text) placed next to `certs/dev/` holding `keys` with `mode`. */
async function check (t: Test, config: string, keys: Record<string, string> = KEYS, env: NodeJS.ProcessEnv = ENV, mode = 0o600) {
  const dir = t.testdir({ 'understudy.yaml': config, certs: { dev: keys } })
  for (const name of Object.keys(keys)) await chmod(join(dir, 'certs', 'dev', name), mode)
  const file = join(dir, 'understudy.yaml')
  const [out, err] = [new PassThrough(), new PassThrough()]
  const code = await checkConfigCommand([file], out, err, env)
  return { code, file, out: text(out), err: text(err) }
}

t.test('the DESIGN example with keys of its own is ok and answers 0', async (t) => {
  const { code, file, out, err } = await check(t, EXAMPLE)
  t.equal(code, 0)
  t.equal(out, `${file}: ok (2 providers, 1 clients)\n`)
  t.equal(err, '')
})

t.test('an invalid config prints every problem with its path and answers 2', async (t) => {
  const config = EXAMPLE
    .replace('issuer: https://login.example.com', 'issuer: login.example.com')
    .replace('providers: [kakao]', 'providers: [kakao, google]')
    .replace('redirectUris: [https://shop.example/callback]', 'redirectUris: [https://shop.example/callback#x]')
  const { code, file, out, err } = await check(t, config, KEYS, { ...ENV, SHOP_SECRET: undefined })
  t.equal(code, 2)
  t.equal(out, '')
  const lines = err.trimEnd().split('\n')
  t.equal(lines[0], `${file}: 4 problem(s) in the config`)
  t.match(lines.slice(1).sort(), [
    /^ {2}\/clients\/0\/clientSecret: environment variable SHOP_SECRET is not set$/,
    /^ {2}\/clients\/0\/providers\/1: no provider with this id \(got "google"\)$/,
    /^ {2}\/clients\/0\/redirectUris\/0: .*fragment/,
    /^ {2}\/issuer: /,
  ])
})

t.test('a config whose ${ENV} secrets are invalid prints their paths and rules, and no secret', async (t) => {
  const secrets = { REDIS_URL: 'http://:redis-pa55word-9d1e@redis:6379', HOOK_SECRET: 'hook-s3cret-7a', SHOP_SECRET: '' }
  const config = `${EXAMPLE.replace('url: redis://127.0.0.1:6379', 'url: ${REDIS_URL}')}
webhooks:
  - { url: https://hooks.example/outage, events: [region.open], secret: "\${HOOK_SECRET}" }
`
  const { code, err } = await check(t, config, KEYS, { ...ENV, ...secrets })
  t.equal(code, 2)
  t.match(err, /^ {2}\/store\/redis\/url: Expected string to match '\^rediss\?:\/\/'$/m)
  t.match(err, /^ {2}\/webhooks\/0\/secret: Expected string length greater or equal to 16$/m)
  t.match(err, /^ {2}\/clients\/0\/clientSecret: Expected string length greater or equal to 1$/m)
  for (const secret of [secrets.REDIS_URL, 'pa55word', secrets.HOOK_SECRET]) t.notOk(err.includes(secret), `no ${secret} in the report`)
})

t.test('an admin token shorter than 32 characters is refused at /admin/token, in a file or from ${ENV}, and never printed', async (t) => {
  const short = 'adm1n-t0ken-of-31-characters-xy'
  const fromEnv = await check(t, EXAMPLE, KEYS, { ...ENV, UNDERSTUDY_ADMIN_TOKEN: short })
  t.equal(fromEnv.code, 2)
  t.match(fromEnv.err, /^ {2}\/admin\/token: the admin token must be at least 32 characters/m)
  const inFile = await check(t, EXAMPLE.replace('token: "${UNDERSTUDY_ADMIN_TOKEN}"', `token: "${short}"`))
  t.equal(inFile.code, 2)
  t.match(inFile.err, /^ {2}\/admin\/token: the admin token must be at least 32 characters/m)
  for (const { err } of [fromEnv, inFile]) t.notOk(err.includes(short), 'the token is not in the report')
  t.equal((await check(t, EXAMPLE, KEYS, { ...ENV, UNDERSTUDY_ADMIN_TOKEN: `${short}z` })).code, 0, '32 characters are enough')
  t.equal((await check(t, EXAMPLE, KEYS, { ...ENV, UNDERSTUDY_ADMIN_TOKEN: '' })).code, 0, 'an empty token closes the admin API, as the k8s placeholder does')
})

t.test('an unusable key is reported at its key file path and answers 2', async (t) => {
  const signing = JSON.parse(KEYS['signing.jwks.json'])
  delete signing.keys[0].kid
  const { code, err } = await check(t, EXAMPLE, { ...KEYS, 'signing.jwks.json': JSON.stringify(signing) })
  t.equal(code, 2)
  t.match(err, /1 problem\(s\)/)
  t.match(err, /^ {2}\/keys\/signing: .*signing\.jwks\.json keys\[0\]: missing kid$/m)
})

t.test('a missing key file is reported at its key file path and answers 2', async (t) => {
  const { code, err } = await check(t, EXAMPLE, { 'signing.jwks.json': KEYS['signing.jwks.json'] })
  t.equal(code, 2)
  t.match(err, /^ {2}\/keys\/sealing: .*sealing\.jwks\.json: cannot read the file \(ENOENT\)$/m)
})

t.test('a client whose idTokenSignedResponseAlg has no signing key is reported and answers 2', async (t) => {
  const signing = JSON.parse(KEYS['signing.jwks.json'])
  signing.keys = signing.keys.filter((k: { alg: string }) => k.alg === 'ES256')
  const config = EXAMPLE.replace('idTokenSignedResponseAlg: ES256', 'idTokenSignedResponseAlg: RS256')
  const { code, err } = await check(t, config, { ...KEYS, 'signing.jwks.json': JSON.stringify(signing) })
  t.equal(code, 2)
  t.match(err, /1 problem\(s\)/)
  t.match(err, /^ {2}\/clients\/0\/idTokenSignedResponseAlg: no RS256 key in .*signing\.jwks\.json$/m)
})

t.test('the committed dev keys, even copied and mixed with other keys, are reported for an issuer that is not local', async (t) => {
  const mixed = { keys: [...generated.signing.keys, JSON.parse(DEV_KEYS['signing.jwks.json']).keys[1]] }
  const { code, err } = await check(t, EXAMPLE, { 'signing.jwks.json': JSON.stringify(mixed), 'sealing.jwks.json': DEV_KEYS['sealing.jwks.json'] })
  t.equal(code, 2)
  t.match(err, /2 problem\(s\)/)
  for (const name of ['signing', 'sealing']) {
    t.match(err, new RegExp(`^ {2}/keys/${name}: \\S+/certs/dev/${name}\\.jwks\\.json holds the committed development keys .*not https://login\\.example\\.com`, 'm'), `${name} names the file`)
  }
  t.notMatch(err, /has mode/, 'no complaint about the mode of keys that are public anyway')
})

t.test('the committed dev keys are fine for an issuer on localhost or 127.0.0.1, whatever their mode', async (t) => {
  for (const issuer of ['http://localhost:8080', 'http://127.0.0.1:9000/base']) {
    const { code, err } = await check(t, EXAMPLE.replace('issuer: https://login.example.com', `issuer: ${issuer}`), DEV_KEYS, ENV, 0o644)
    t.equal(code, 0, issuer)
    t.equal(err, '')
  }
})

t.test('a key file every user may read or write is reported with its mode; group-readable is fine', async (t) => {
  for (const mode of [0o644, 0o602]) {
    const { code, err } = await check(t, EXAMPLE, KEYS, ENV, mode)
    t.equal(code, 2)
    t.match(err, new RegExp(`^ {2}/keys/signing: \\S+signing\\.jwks\\.json has mode 0${mode.toString(8)}: every user`, 'm'))
    t.match(err, /^ {2}\/keys\/sealing: /m)
  }
  for (const mode of [0o440, 0o400, 0o640]) t.equal((await check(t, EXAMPLE, KEYS, ENV, mode)).code, 0, `0${mode.toString(8)} is accepted`)
})

t.test('a missing config file is reported and answers 2', async (t) => {
  const err = new PassThrough()
  t.equal(await checkConfigCommand([join(t.testdir({}), 'nope.yaml')], new PassThrough(), err, ENV), 2)
  t.match(text(err), /nope\.yaml: 1 problem\(s\)[^]*cannot read the file/)
})

t.test('check-config without exactly one file prints the usage and answers 2', async (t) => {
  for (const args of [[], ['a.yaml', 'b.yaml']]) {
    const err = new PassThrough()
    t.equal(await checkConfigCommand(args, new PassThrough(), err, ENV), 2)
    t.equal(text(err), 'usage: understudy check-config FILE\n')
  }
})
