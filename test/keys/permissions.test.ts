import { chmod, copyFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { looseKeyFiles } from '../../src/keys/permissions.js'
import { DEV_KEYS, startStack } from '../helpers/stack.js'

t.test('key files that the group or others may read or write are reported with their mode', async (t) => {
  const dir = t.testdir({ a: 'k', b: 'k', c: 'k', d: 'k', e: 'k', f: 'k' })
  const modes: Record<string, number> = { a: 0o644, b: 0o640, c: 0o604, d: 0o620, e: 0o600, f: 0o400 }
  for (const [name, mode] of Object.entries(modes)) await chmod(join(dir, name), mode)
  const loose = await looseKeyFiles(Object.keys(modes).map((name) => join(dir, name)))
  t.same(loose, [
    { path: join(dir, 'a'), mode: '0644' },
    { path: join(dir, 'b'), mode: '0640' },
    { path: join(dir, 'c'), mode: '0604' },
    { path: join(dir, 'd'), mode: '0620' },
  ], 'owner-only files (0600, 0400) are fine')
  t.same(await looseKeyFiles([join(dir, 'missing')]), [], 'a missing file is the keyring\'s to report')
  t.same(await looseKeyFiles([join(dir, 'a')], 'win32'), [], 'Windows has no such modes')
})

t.test('a gateway whose signing key file is group-readable warns at start with the path and mode, and starts', async (t) => {
  const dir = t.testdir({})
  const keys = { signing: join(dir, 'signing.jwks.json'), sealing: join(dir, 'sealing.jwks.json') }
  await copyFile(DEV_KEYS.signing, keys.signing)
  await copyFile(DEV_KEYS.sealing, keys.sealing)
  await chmod(keys.signing, 0o644)
  await chmod(keys.sealing, 0o600)
  const stack = await startStack({ config: { keys } })
  t.teardown(() => stack.close())
  const warnings = stack.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.level === 40 && String(entry.msg).startsWith('key file is readable'))
  t.same(warnings.map((w) => ({ path: w.path, mode: w.mode })), [{ path: keys.signing, mode: '0644' }], 'one warning, for the signing key file only')
  t.equal((await fetch(`${stack.issuer}/readyz`)).status, 200, 'the gateway serves')
})
