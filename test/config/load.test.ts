import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { stringify as toYaml } from 'yaml'
import { ConfigError, loadConfigFile, parseDuration, validateConfig, type ConfigProblem } from '../../src/config/load.js'
import type { Config } from '../../src/config/resolve.js'
import { isUnderstudyError } from '../../src/errors.js'

/** The documented defaults (docs/config-reference.md), in seconds. */
const DEFAULT_BREAKER = { timeout: 2, errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeout: 10, rollingCountTimeout: 10 }
const DEFAULT_FRESHNESS = { maxStaleness: 8 * 3600, outageMaxStaleness: 7 * 86400, acceptBackupLogin: true }
const DEFAULT_TOKENS = { idToken: 3600, accessToken: 600, refreshToken: 30 * 86400, degraded: 300, code: 60 }
const DEFAULT_REDIS = { keyPrefix: 'understudy:', commandTimeout: 0.5, connectTimeout: 1, peerTimeout: 0.25, peerQueueLimit: 10_000 }

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))
/** The environment the DESIGN §3 example needs. */
const EXAMPLE_ENV = {
  UNDERSTUDY_ADMIN_TOKEN: 'load-test-admin-token-of-32-characters',
  KAKAO_CLIENT_ID: 'kakao-id',
  KAKAO_CLIENT_SECRET: 'kakao-secret',
  NAVER_CLIENT_ID: 'naver-id',
  NAVER_CLIENT_SECRET: 'naver-secret',
  SHOP_SECRET: 'shop-secret',
}

/** The smallest valid config, as a fresh object to change. */
function minimal (): Record<string, any> {
  return {
    issuer: 'https://login.example.com',
    keys: { signing: 'keys/signing.jwks.json', sealing: 'keys/sealing.jwks.json' },
    providers: [{ id: 'kakao', kind: 'oidc', issuer: 'https://kauth.kakao.com', clientId: 'id', regions: [{ name: 'primary', url: 'https://kauth.kakao.com' }] }],
    clients: [{ clientId: 'shop', redirectUris: ['https://shop.example/callback'], providers: ['kakao'] }],
  }
}

function naver (): Record<string, any> {
  return {
    id: 'naver',
    kind: 'oauth2',
    clientId: 'id',
    regions: [{
      name: 'primary',
      authorizationEndpoint: 'https://nid.naver.com/oauth2.0/authorize',
      tokenEndpoint: 'https://nid.naver.com/oauth2.0/token',
      userinfoEndpoint: 'https://openapi.naver.com/v1/nid/me',
    }],
    claims: { sub: 'response.id' },
  }
}

function valid (input: unknown, env: NodeJS.ProcessEnv = {}): Config {
  return validateConfig(input, { env, baseDir: '/etc/understudy' })
}

/** The problems a config is refused with (fails the test if it is accepted or fails otherwise). */
function problemsOf (input: unknown, env: NodeJS.ProcessEnv = {}): ConfigProblem[] {
  try {
    valid(input, env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  throw new Error('the config was accepted')
}

function paths (input: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  return problemsOf(input, env).map((p) => p.path)
}

t.test('the DESIGN §3 example config validates', async (t) => {
  const config = await loadConfigFile(join(FIXTURES, 'design-example.yaml'), EXAMPLE_ENV)
  t.equal(config.issuer, 'https://login.example.com')
  t.equal(config.region, 'kr-central')
  t.same(config.listen, { host: '0.0.0.0', port: 8080 })
  t.same(config.admin, { host: '127.0.0.1', port: 9090, token: 'load-test-admin-token-of-32-characters' })
  t.same(config.keys, { signing: join(FIXTURES, 'certs/dev/signing.jwks.json'), sealing: join(FIXTURES, 'certs/dev/sealing.jwks.json') })
  t.match(config.store, { kind: 'memory', redis: { url: 'redis://127.0.0.1:6379', peers: ['redis://other-region:6379'] } })
  const [kakao, naverProvider] = config.providers
  t.match(kakao, {
    id: 'kakao',
    kind: 'oidc',
    issuer: 'https://kauth.kakao.com',
    clientId: 'kakao-id',
    clientSecret: 'kakao-secret',
    scopes: ['openid', 'profile', 'email'],
    regions: [{ name: 'primary', url: 'https://kauth.kakao.com' }, { name: 'secondary', url: 'https://kauth-dr.example.net' }],
    healthCheck: { interval: 2 },
  })
  t.same(kakao!.breaker, { timeout: 2, errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeout: 10, rollingCountTimeout: 10 })
  t.match(naverProvider, { id: 'naver', kind: 'oauth2', clientId: 'naver-id', claims: { sub: 'response.id', email: 'response.email', name: 'response.nickname' } })
  t.same(naverProvider!.breaker, DEFAULT_BREAKER, 'an omitted breaker takes the defaults')
  t.match(config.clients, [{
    clientId: 'shop',
    clientSecret: 'shop-secret',
    redirectUris: ['https://shop.example/callback'],
    postLogoutRedirectUris: ['https://shop.example/'],
    providers: ['kakao'],
    freshness: { maxStaleness: 8 * 3600, outageMaxStaleness: 7 * 86400 },
    idTokenSignedResponseAlg: 'ES256',
  }])
  t.same(config.sessions, { maxStaleness: 8 * 3600, outageMaxStaleness: 7 * 86400, acceptBackupLogin: true })
  t.same(config.tokens, { idToken: 3600, accessToken: 600, refreshToken: 30 * 86400, degraded: 300, code: 60 })
  t.same(config.chaos, { enabled: false })
})

t.test('YAML and JSON files load to the same config', async (t) => {
  const dir = t.testdir({ 'understudy.yaml': toYaml(minimal()), 'understudy.json': JSON.stringify(minimal(), null, 2) })
  const fromYaml = await loadConfigFile(join(dir, 'understudy.yaml'), {})
  const fromJson = await loadConfigFile(join(dir, 'understudy.json'), {})
  t.same(fromJson, fromYaml)
  t.equal(fromYaml.providers[0]!.id, 'kakao')
})

t.test('${NAME} is replaced by the environment variable in every string', async (t) => {
  const input = minimal()
  input.issuer = 'https://${HOST}'
  input.providers[0].clientSecret = '${SECRET}'
  input.providers[0].regions[0].url = 'https://${HOST}/${REGION}-${REGION}'
  input.clients[0].redirectUris = ['https://shop.example/cb', 'https://${SHOP}/cb']
  const config = valid(input, { HOST: 'login.example.org', SECRET: 's3cr3t', REGION: 'kr', SHOP: 'shop.example.org' })
  t.equal(config.issuer, 'https://login.example.org')
  t.equal(config.providers[0]!.clientSecret, 's3cr3t')
  t.equal(config.providers[0]!.regions[0]!.url, 'https://login.example.org/kr-kr')
  t.same(config.clients[0]!.redirectUris, ['https://shop.example/cb', 'https://shop.example.org/cb'])
})

t.test('text that only looks like a variable is kept', async (t) => {
  const input = minimal()
  input.providers[0].clientSecret = '$SECRET {X} $${} ${1X}'
  t.equal(valid(input).providers[0]!.clientSecret, '$SECRET {X} $${} ${1X}')
})

t.test('an unset environment variable is a problem at its path', async (t) => {
  const input = minimal()
  input.providers[0].clientSecret = '${KAKAO_CLIENT_SECRET}'
  input.clients[0].redirectUris = ['https://${SHOP_HOST}/callback']
  const problems = problemsOf(input)
  t.match(problems, [
    { path: '/providers/0/clientSecret', message: /KAKAO_CLIENT_SECRET is not set/ },
    { path: '/clients/0/redirectUris/0', message: /SHOP_HOST is not set/ },
  ])
  t.equal(problems.length, 2, 'the empty values left behind are not reported again')
})

t.test('a refused config shows no value that came from ${ENV} or sits at a secret path, and masks URL credentials', async (t) => {
  const env = {
    ISSUER: 'issuer-from-env-0f3c',
    REDIS_URL: 'http://:redis-pa55word-9d1e@redis:6379',
    HOOK_SECRET: 'hook-s3cret-7a',
    SHOP_CALLBACK: 'shop-callback-token-5e8c',
  }
  const input = minimal()
  input.issuer = '${ISSUER}'
  input.store = { kind: 'redis', redis: { url: '${REDIS_URL}', peers: ['http://peer:literal-pa55-4c6d@peer.example:6379/0'] } }
  input.webhooks = [
    { url: 'https://hooks.example/a', events: ['region.open'], secret: '${HOOK_SECRET}' },
    { url: 'https://hooks.example/b', events: ['region.open'], secret: 'literal-2b9f' },
  ]
  input.providers[0].clientSecret = 918273645
  input.clients[0].redirectUris = ['${SHOP_CALLBACK}']
  let error: unknown
  try {
    valid(input, env)
  } catch (err) {
    error = err
  }
  if (!(error instanceof ConfigError)) throw new Error('the config was accepted')
  t.same(error.problems.map((p) => p.path).sort(), [
    '/clients/0/redirectUris/0', '/issuer', '/providers/0/clientSecret', '/store/redis/peers/0', '/store/redis/url', '/webhooks/0/secret', '/webhooks/1/secret',
  ], 'every problem is reported at its path')
  const report = error.report()
  for (const secret of [...Object.values(env), 'pa55word', 'literal-pa55-4c6d', 'literal-2b9f', '918273645']) t.notOk(report.includes(secret), `the report does not show ${secret}`)
  t.same(error.problems.filter((p) => p.value !== undefined), [{ path: '/store/redis/peers/0', message: error.problems.find((p) => p.path === '/store/redis/peers/0')!.message, value: 'http://***@peer.example:6379/0' }], 'only a value written in the file is shown, its credentials masked')
  t.match(report, /^ {2}\/webhooks\/0\/secret: [^"]+$/m, 'a rule without the value')
})

t.test('parseDuration reads numbers of seconds and 500ms, 90s, 10m, 8h, 7d', async (t) => {
  const cases: Array<[number | string, number]> = [
    [0, 0], [45, 45], [2.5, 2.5], ['45', 45], ['500ms', 0.5], ['90s', 90], ['10m', 600],
    ['8h', 28_800], ['7d', 604_800], ['1.5h', 5400], [' 30 s ', 30],
  ]
  for (const [input, seconds] of cases) t.equal(parseDuration(input), seconds, JSON.stringify(input))
})

t.test('parseDuration refuses what is not a duration', async (t) => {
  for (const input of ['', 'abc', '10w', '-5s', '5 minutes', '1h30m', 's', '1e3']) {
    t.throws(() => parseDuration(input), TypeError, JSON.stringify(input))
  }
})

t.test('durations in the config become seconds', async (t) => {
  const input = minimal()
  input.providers[0].breaker = { timeout: '500ms', resetTimeout: '1m', rollingCountTimeout: 20 }
  input.providers[0].healthCheck = { interval: '10s' }
  input.sessions = { maxStaleness: '1h', outageMaxStaleness: '30d' }
  input.clients[0].freshness = { maxStaleness: 600 }
  input.tokens = { idToken: '2h', accessToken: '15m', refreshToken: '90d', degraded: 120, code: '30s' }
  const config = valid(input)
  t.same(config.providers[0]!.breaker, { ...DEFAULT_BREAKER, timeout: 0.5, resetTimeout: 60, rollingCountTimeout: 20 })
  t.equal(config.providers[0]!.healthCheck.interval, 10)
  t.same(config.sessions, { maxStaleness: 3600, outageMaxStaleness: 30 * 86400, acceptBackupLogin: true })
  t.same(config.clients[0]!.freshness, { maxStaleness: 600, outageMaxStaleness: 30 * 86400, acceptBackupLogin: true }, 'a client inherits what it does not set')
  t.same(config.tokens, { idToken: 7200, accessToken: 900, refreshToken: 90 * 86400, degraded: 120, code: 30 })
})

t.test('a malformed duration in the config is a problem at its path', async (t) => {
  const input = minimal()
  input.tokens = { idToken: '1 hour' }
  input.providers[0].breaker = { timeout: -1 }
  t.same(paths(input), ['/providers/0/breaker/timeout', '/tokens/idToken'])
})

t.test('defaults are applied to everything left out', async (t) => {
  const config = valid(minimal())
  t.equal(config.region, 'local')
  t.same(config.listen, { host: '0.0.0.0', port: 8080 })
  t.same(config.admin, { host: '127.0.0.1', port: 9090 })
  t.same(config.store, { kind: 'memory', redis: DEFAULT_REDIS, revocationFailOpen: 300 })
  t.same(config.webhooks, [])
  t.same(config.logging, { level: 'info', requests: true })
  t.same(config.tokens, DEFAULT_TOKENS)
  t.same(config.sessions, DEFAULT_FRESHNESS)
  t.same(config.chaos, { enabled: false })
  const [provider] = config.providers
  t.same(provider!.breaker, DEFAULT_BREAKER)
  t.equal(provider!.healthCheck.interval, 5)
  t.same(provider!.scopes, ['openid'])
  t.equal(provider!.pkce, true)
  const [client] = config.clients
  t.same(client!.freshness, DEFAULT_FRESHNESS)
  t.equal(client!.idTokenSignedResponseAlg, 'ES256')
  t.same(client!.postLogoutRedirectUris, [])
})

t.test('partly given objects keep the defaults for the rest', async (t) => {
  const input = minimal()
  input.listen = { port: 0 }
  input.admin = { token: 't'.repeat(32) }
  input.store = { redis: { url: 'redis://cache:6379' } }
  input.providers[0].breaker = { volumeThreshold: 3 }
  input.tokens = { accessToken: '5m' }
  const config = valid(input)
  t.same(config.listen, { host: '0.0.0.0', port: 0 })
  t.same(config.admin, { host: '127.0.0.1', port: 9090, token: 't'.repeat(32) })
  t.same(config.store, { kind: 'memory', redis: { ...DEFAULT_REDIS, url: 'redis://cache:6379' }, revocationFailOpen: 300 })
  t.same(config.providers[0]!.breaker, { ...DEFAULT_BREAKER, volumeThreshold: 3 })
  t.same(config.tokens, { ...DEFAULT_TOKENS, accessToken: 300 })
})

t.test('every problem is reported at once, each with its JSON pointer', async (t) => {
  const input = minimal()
  input.issuer = 'login.example.com'
  input.listen = { port: 70_000 }
  input.clients[0].providers = ['google']
  input.clients[0].redirectUris = ['https://shop.example/callback#done']
  const err = t.throws(() => valid(input)) as ConfigError
  t.ok(isUnderstudyError(err, 'US_ERR_CONFIG_INVALID'))
  t.same(err.problems.map((p) => p.path).sort(), ['/clients/0/providers/0', '/clients/0/redirectUris/0', '/issuer', '/listen/port'])
  const report = err.report().split('\n')
  t.equal(report.length, 5, 'a headline and one line per problem')
  t.match(report[0], /config: 4 problem\(s\)/)
  for (const p of err.problems) t.ok(report.some((line) => line.startsWith(`  ${p.path}: ${p.message}`)), `the report lists ${p.path}`)
})

t.test('unknown properties and wrong types are reported where they are', async (t) => {
  const input = minimal()
  input.issuer = 'https://login.example.com/?x=1'
  input.provider = []
  input.providers[0].kind = 'saml'
  input.providers[0].regions[0].weight = 2
  input.clients[0].redirectUris = 'https://shop.example/callback'
  input.chaos = { enabled: 'yes' }
  t.same(paths(input).sort(), ['/chaos/enabled', '/clients/0/redirectUris', '/issuer', '/provider', '/providers/0/kind', '/providers/0/regions/0/weight'])
})

t.test('a config that is not an object, or lacks required parts, is refused', async (t) => {
  for (const input of [null, 'issuer: x', [minimal()], 42]) t.same(paths(input), [''], JSON.stringify(input))
  t.same(paths({}).sort(), ['/clients', '/issuer', '/keys', '/providers'])
  t.same(paths({ ...minimal(), providers: [], clients: [] }).sort(), ['/clients', '/providers'])
})

t.test('a client naming an unknown provider is a problem', async (t) => {
  const input = minimal()
  input.clients[0].providers = ['kakao', 'naver']
  t.match(problemsOf(input), [{ path: '/clients/0/providers/1', message: 'no provider with this id', value: 'naver' }])
})

t.test('an oauth2 provider needs claims.sub and all three endpoints in every region', async (t) => {
  const input = minimal()
  const provider = naver()
  delete provider.claims
  provider.regions.push({ name: 'secondary', tokenEndpoint: 'https://nid-dr.example/token' })
  input.providers.push(provider)
  t.same(paths(input), [
    '/providers/1/regions/1/authorizationEndpoint',
    '/providers/1/regions/1/userinfoEndpoint',
    '/providers/1/claims/sub',
  ])
  input.providers[1].claims = { email: 'response.email' }
  t.ok(paths(input).includes('/providers/1/claims/sub'), 'other claims do not stand in for sub')
})

t.test('a complete oauth2 provider is valid and has no default scopes', async (t) => {
  const input = minimal()
  input.providers = [naver()]
  input.clients[0].providers = ['naver']
  const config = valid(input)
  t.same(config.providers[0]!.scopes, [])
  t.equal(config.providers[0]!.claims?.sub, 'response.id')
})

t.test('reauthenticate defaults to prompt=login for oidc and to nothing for oauth2, and a given one is kept', async (t) => {
  const input = minimal()
  input.providers.push(naver(), { ...naver(), id: 'naver-reauth', reauthenticate: { auth_type: 'reauthenticate' } })
  const [kakao, plain, reauth] = valid(input).providers
  t.same(kakao!.reauthenticate, { prompt: 'login' })
  t.same(plain!.reauthenticate, {})
  t.same(reauth!.reauthenticate, { auth_type: 'reauthenticate' })
})

t.test('reauthenticate may not set a parameter the gateway sets itself', async (t) => {
  const input = minimal()
  input.providers[0].reauthenticate = { prompt: 'login', state: 'fixed', redirect_uri: 'https://evil.example/' }
  t.same(paths(input), ['/providers/0/reauthenticate/state', '/providers/0/reauthenticate/redirect_uri'])
})

t.test('an oidc provider needs an issuer and a url in every region', async (t) => {
  const input = minimal()
  delete input.providers[0].issuer
  input.providers[0].regions.push({ name: 'secondary', authorizationEndpoint: 'https://x.example/authorize' })
  t.same(paths(input), ['/providers/0/regions/1/url', '/providers/0/issuer'])
})

t.test('duplicate provider ids, client ids and region names are problems', async (t) => {
  const input = minimal()
  input.providers.push(structuredClone(input.providers[0]))
  input.providers[0].regions.push({ name: 'primary', url: 'https://kauth-dr.example.net' })
  input.clients.push({ ...input.clients[0] })
  t.same(paths(input).sort(), ['/clients/1/clientId', '/providers/0/regions/1/name', '/providers/1/id'])
})

t.test('a redirect URI with a fragment or a dangerous scheme is a problem', async (t) => {
  const input = minimal()
  input.clients[0].redirectUris = [
    'https://shop.example/callback',
    'https://shop.example/callback#',
    'javascript:alert(1)//',
    'data:text/html,hi',
    '/relative/callback',
    'com.example.app:/oauth2redirect',
    'http://127.0.0.1:8765/callback',
  ]
  input.clients[0].postLogoutRedirectUris = ['https://shop.example/#bye', 'JavaScript:alert(1)']
  const problems = problemsOf(input)
  t.same(problems.map((p) => p.path), [
    '/clients/0/redirectUris/1',
    '/clients/0/redirectUris/2',
    '/clients/0/redirectUris/3',
    '/clients/0/redirectUris/4',
    '/clients/0/postLogoutRedirectUris/0',
    '/clients/0/postLogoutRedirectUris/1',
  ], 'native-app schemes and loopback URIs are allowed')
  t.match(problems, [{ message: /fragment/ }, { message: /javascript: scheme/ }, { message: /data: scheme/ }, { message: /absolute URL/ }, { message: /fragment/ }, { message: /javascript: scheme/ }])
})

t.test('outageMaxStaleness shorter than maxStaleness is a problem, reported once', async (t) => {
  const input = minimal()
  input.sessions = { maxStaleness: '8h', outageMaxStaleness: '1h' }
  input.clients.push({ clientId: 'blog', redirectUris: ['https://blog.example/cb'], providers: ['kakao'], freshness: { maxStaleness: '2d', outageMaxStaleness: '1d' } })
  t.same(paths(input), ['/sessions/outageMaxStaleness', '/clients/1/freshness/outageMaxStaleness'])
})

t.test('token lifetimes that contradict each other are problems', async (t) => {
  const input = minimal()
  input.tokens = { code: '11m', idToken: '5m', degraded: '10m' }
  t.same(paths(input), ['/tokens/code', '/tokens/degraded'])
})

t.test('a breaker timeout of zero is refused', async (t) => {
  const input = minimal()
  input.providers[0].breaker = { timeout: 0 }
  t.same(paths(input), ['/providers/0/breaker/timeout'])
})

t.test('the redis store needs a url, sentinels with a name, or a cluster', async (t) => {
  const withStore = (store: unknown) => ({ ...minimal(), store })
  t.same(paths(withStore({ kind: 'redis' })), ['/store/redis'])
  t.same(paths(withStore({ kind: 'redis', redis: { peers: ['redis://peer:6379'] } })), ['/store/redis'])
  t.same(paths(withStore({ kind: 'redis', redis: { sentinels: [{ host: 's1', port: 26379 }] } })), ['/store/redis/name'])
  t.same(paths(withStore({ kind: 'redis', redis: { url: 'http://cache:6379' } })), ['/store/redis/url'])
  for (const redis of [{ url: 'rediss://cache:6380' }, { sentinels: [{ host: 's1', port: 26379 }], name: 'mymaster' }, { cluster: ['redis://a:7000', 'redis://b:7000'] }, { sentinels: [{ host: 's1', port: 26379 }], name: 'mymaster', password: 'p', sentinelPassword: 's' }]) {
    t.equal(valid(withStore({ kind: 'redis', redis })).store.kind, 'redis', JSON.stringify(redis))
  }
  t.same(paths(withStore({ kind: 'redis', redis: { url: 'redis://cache:6379', password: 'p', sentinelPassword: 's' } })), ['/store/redis/password', '/store/redis/sentinelPassword'], 'passwords apart from the URL are for sentinels only')
})

t.test('a peer is another Redis than this region\'s and than every other peer, however its URL is spelled', async (t) => {
  const withPeers = (url: string, peers: string[]) => ({ ...minimal(), store: { kind: 'redis', redis: { url, peers } } })
  t.same(paths(withPeers('redis://cache:6379', ['redis://cache:6379'])), ['/store/redis/peers/0'], 'the local URL itself')
  t.same(paths(withPeers('redis://cache:6379', ['redis://user:pw@CACHE/0'])), ['/store/redis/peers/0'], 'the same host and default port, with credentials and a database')
  t.same(paths(withPeers('redis://localhost:6379', ['rediss://127.0.0.1:6379'])), ['/store/redis/peers/0'], 'localhost is the loopback address')
  t.same(paths(withPeers('redis://cache:6379', ['redis://peer-a:6379', 'redis://peer-b:6379', 'rediss://u:p@PEER-A:6379/0'])), ['/store/redis/peers/2'], 'one peer twice: each decides single uses, so it would refuse every code')
  t.equal(valid(withPeers('redis://cache:6379', ['redis://cache:6380', 'redis://peer:6379'])).store.kind, 'redis', 'another port on the same host is another Redis')
  t.equal(valid(withPeers('redis://cache:6379/0', ['redis://cache:6379/1'])).store.kind, 'redis', 'and so is another database of the same server')
})

t.test('relative key and TLS paths resolve against the config file directory', async (t) => {
  const input = minimal()
  input.keys = { signing: 'keys/signing.jwks.json', sealing: '/var/lib/understudy/sealing.jwks.json' }
  input.listen = { port: 8443, tls: { cert: '../tls/tls.crt', key: 'tls.key' } }
  const dir = t.testdir({ etc: { 'understudy.yaml': toYaml(input) } })
  const config = await loadConfigFile(join(dir, 'etc', 'understudy.yaml'), {})
  t.equal(config.keys.signing, join(dir, 'etc', 'keys', 'signing.jwks.json'))
  t.equal(config.keys.sealing, '/var/lib/understudy/sealing.jwks.json', 'an absolute path is kept')
  t.same(config.listen.tls, { cert: join(dir, 'tls', 'tls.crt'), key: join(dir, 'etc', 'tls.key') })
})

t.test('an unreadable or unparsable file is a ConfigError naming the file', async (t) => {
  const dir = t.testdir({ 'broken.yaml': 'issuer: [unclosed\n  providers: {', 'list.yaml': '- a\n- b\n' })
  const read = async (file: string) => loadConfigFile(join(dir, file), {}).then(() => undefined, (err: unknown) => err as ConfigError)
  const missing = await read('missing.yaml')
  t.ok(missing instanceof ConfigError)
  t.match(missing!.report(), /missing\.yaml: 1 problem\(s\)[^]*cannot read the file/)
  t.match((await read('broken.yaml'))!.problems, [{ path: '', message: /cannot parse YAML\/JSON/ }])
  t.match((await read('list.yaml'))!.problems, [{ path: '', message: /must be an object/ }])
})

t.test('a file that cannot be read or parsed is US_ERR_CONFIG_READ, one that does not validate US_ERR_CONFIG_INVALID', async (t) => {
  const dir = t.testdir({ 'broken.yaml': 'issuer: [unclosed\n  providers: {', 'invalid.yaml': 'issuer: 42\n' })
  const codeOf = async (file: string) => loadConfigFile(join(dir, file), {}).then(() => 'accepted', (err: unknown) => (err as ConfigError).code)
  t.equal(await codeOf('missing.yaml'), 'US_ERR_CONFIG_READ', 'a missing file')
  t.equal(await codeOf(''), 'US_ERR_CONFIG_READ', 'a directory')
  t.equal(await codeOf('broken.yaml'), 'US_ERR_CONFIG_READ', 'a file that is not YAML or JSON')
  t.equal(await codeOf('invalid.yaml'), 'US_ERR_CONFIG_INVALID')
})

t.test('logging takes a pino level and whether to write access lines', async (t) => {
  const input = minimal()
  input.logging = { level: 'warn', requests: false }
  t.same(valid(input).logging, { level: 'warn', requests: false })
  input.logging = { level: 'loud', requests: 'yes' }
  t.same(paths(input).sort(), ['/logging/level', '/logging/requests'])
})

t.test('a store key prefix with a brace is refused: it would split the keys of one id across Cluster slots', async (t) => {
  const withPrefix = (keyPrefix: string) => ({ ...minimal(), store: { kind: 'redis', redis: { url: 'redis://127.0.0.1:6379', keyPrefix } } })
  t.same(paths(withPrefix('app{eu:')), ['/store/redis/keyPrefix'])
  t.same(paths(withPrefix('app}:')), ['/store/redis/keyPrefix'])
  t.doesNotThrow(() => valid(withPrefix('app:eu:')), 'a prefix without braces is fine')
})
