import { readFile } from 'node:fs/promises'
import t from 'tap'
import { ErrorCodes, UnderstudyError, isUnderstudyError, type ErrorCode } from '../src/errors.js'

const codes = Object.keys(ErrorCodes) as ErrorCode[]

t.test('every error code starts with US_ERR_', async (t) => {
  t.ok(codes.length > 0)
  for (const code of codes) t.match(code, /^US_ERR_[A-Z]+(_[A-Z]+)*$/, code)
})

t.test('an UnderstudyError carries the code it was made with', async (t) => {
  for (const code of codes) {
    const err = new UnderstudyError(code)
    t.equal(err.code, code)
    t.equal(err.message, ErrorCodes[code], `${code} defaults to its description`)
    t.equal(err.name, 'UnderstudyError')
    t.ok(err instanceof Error)
    t.ok(isUnderstudyError(err, code))
  }
})

t.test('an UnderstudyError keeps its cause and details', async (t) => {
  const cause = new Error('ECONNREFUSED')
  const err = new UnderstudyError('US_ERR_STORE_UNAVAILABLE', 'redis down', { cause, details: { store: 'redis' } })
  t.equal(err.message, 'redis down')
  t.equal(err.cause, cause)
  t.same(err.details, { store: 'redis' })
  t.notOk('cause' in new UnderstudyError('US_ERR_STORE_UNAVAILABLE'), 'no cause property when none was given')
})

t.test('isUnderstudyError tells our errors from others and checks the code', async (t) => {
  const err = new UnderstudyError('US_ERR_SEAL_INVALID')
  t.ok(isUnderstudyError(err))
  t.notOk(isUnderstudyError(err, 'US_ERR_KEYS_INVALID'))
  t.notOk(isUnderstudyError(new Error('US_ERR_SEAL_INVALID')))
  t.notOk(isUnderstudyError({ code: 'US_ERR_SEAL_INVALID' }))
})

t.test('docs/errors.md documents exactly the declared codes', async (t) => {
  const doc = await readFile(new URL('../docs/errors.md', import.meta.url), 'utf8')
  const documented = [...doc.matchAll(/^\| `(US_ERR_[A-Z_]+)` \|(.+)\|(.+)\|\s*$/gm)]
  const names = documented.map((m) => m[1])
  for (const code of codes) t.ok(names.includes(code), `${code} is documented`)
  t.same(names.filter((name) => !codes.includes(name as ErrorCode)), [], 'no undeclared code is documented')
  for (const [, code, meaning, action] of documented) {
    t.ok(meaning!.trim().length > 0 && action!.trim().length > 0, `${code} has a meaning and an action`)
  }
})
