import { randomBytes } from 'node:crypto'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose'
import { SIGNING_ALGS } from './keyring.js'

/** Fresh key material: a private signing JWK Set (ES256, RS256, EdDSA) and a sealing JWK Set (one A256GCM key). */
export async function generateKeySets (): Promise<{ signing: { keys: JWK[] }, sealing: { keys: JWK[] } }> {
  const signing: JWK[] = []
  for (const alg of SIGNING_ALGS) {
    const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) })
    const jwk = await exportJWK(privateKey)
    signing.push({ ...jwk, alg, kid: `${alg.toLowerCase()}-${(await calculateJwkThumbprint(jwk)).slice(0, 16)}` })
  }
  const stamp = new Date().toISOString().slice(0, 10).replaceAll('-', '')
  const sealing: JWK[] = [{ kty: 'oct', kid: `seal-${stamp}-${randomBytes(4).toString('hex')}`, alg: 'dir', k: randomBytes(32).toString('base64url') }]
  return { signing: { keys: signing }, sealing: { keys: sealing } }
}

/** Writes `signing.jwks.json` and `sealing.jwks.json` into `dir` (mode 0600); returns their paths. */
export async function writeKeySets (dir: string): Promise<{ signing: string, sealing: string }> {
  const sets = await generateKeySets()
  await mkdir(dir, { recursive: true })
  const files = { signing: join(dir, 'signing.jwks.json'), sealing: join(dir, 'sealing.jwks.json') }
  for (const name of ['signing', 'sealing'] as const) {
    await writeFile(files[name], JSON.stringify(sets[name], null, 2) + '\n', { mode: 0o600 })
    // `mode` applies only when the file is created; an overwritten file keeps its old mode.
    await chmod(files[name], 0o600)
  }
  return files
}
