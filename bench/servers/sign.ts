// One ES256 signature under callgrind (bench/callgrind.ts): `node sign.js <mode> <count> <signing.jwks> <sealing.jwks>`.
// Signs `count` times to warm up, writes "ready" and waits for a line on stdin (the bench zeroes
// callgrind's counters), signs `count` times, writes "done" and waits for a line (the bench dumps
// the counters), then exits. Modes: `id-token`, an ID token as the ES256 ceiling mints it (the
// gateway's mintIdToken: JSON, base64url, one signature); `sign`, node:crypto's ES256 alone on the
// same bytes.
import { KeyObject, sign } from 'node:crypto'
import { createInterface } from 'node:readline'
import { loadKeyring } from '../../src/keys/keyring.js'
import { mintIdToken } from '../../src/oidc/tokens.js'
import { CEILING_GRANT } from './ceiling-grant.js'

const [mode = 'id-token', countArg = '1000', signing = '', sealing = ''] = process.argv.slice(2)
const count = Number(countArg)
const signer = (await loadKeyring({ signing, sealing })).signer('ES256')!
const now = Math.floor(Date.now() / 1000)
const grant = { ...CEILING_GRANT, authTime: now, vouchedAt: now }
const token = await mintIdToken(signer, 'http://127.0.0.1', grant, now, 3600)
const input = Buffer.from(token.slice(0, token.lastIndexOf('.')))
const key = KeyObject.from(signer.key)

const once = mode === 'sign'
  ? async () => sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' })
  : async () => mintIdToken(signer, 'http://127.0.0.1', grant, now, 3600)
const run = async () => { for (let i = 0; i < count; i++) await once() }

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
await run()
process.stdout.write('ready\n')
await lines.next()
await run()
process.stdout.write('done\n')
await lines.next()
process.exit(0)
