// Runs `tap build` when tap's compiled plugin set is not the one package.json asks for.
// tap compiles its plugins into node_modules/@tapjs/test; `npm ci` brings the default set, which loads
// ts-node into every test process. tap rebuilds a stale set by itself, but only after it has picked the
// test processes' loaders from the old one, so the first run after `npm ci` would load ts-node beside tsx.
// Plain JavaScript so that it runs before anything is compiled; a no-op when the build is current.
import { TapConfig } from '@tapjs/config'
import { signature } from '@tapjs/test'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const config = await TapConfig.load()
if (config.pluginSignature !== signature) {
  const pkg = import.meta.resolve('tap/package.json')
  const tap = fileURLToPath(new URL(JSON.parse(readFileSync(new URL(pkg), 'utf8')).bin.tap, pkg))
  const { status, signal } = spawnSync(process.execPath, [tap, 'build'], { stdio: 'inherit' })
  if (status !== 0) {
    console.error(`harness/tap-build.mjs: tap build failed (${signal ?? `exit ${status}`})`)
    process.exit(1)
  }
}
