import { createHash, createPrivateKey, createPublicKey } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { calculateJwkThumbprint, type JWK } from 'jose'

/**
 * The keys committed in `certs/dev`, by RFC 7638 thumbprint (signing and
 * sealing JWKs) and by SHA-256 of the public key (the TLS key). They are
 * public, so a copy of them under any name is still not a secret; a test pins
 * this list to the files.
 */
export const DEV_KEY_THUMBPRINTS: ReadonlySet<string> = new Set([
  '9cN9c9xNiDkQyIFJ1EeNOmeGWdD9CbmlsKM0IRsZElw', // signing.jwks.json ES256
  'PA0N-a0BPq76J8dRIQc_TWLnZAnDwKUi_sqqTpTPLTE', // signing.jwks.json RS256
  'B5R76A3G0ueqXAV9qm7V4dOOBLJKHvgCAwt8iPc0HQc', // signing.jwks.json EdDSA
  'DuCYrCPWSWZGkSF7RBisl8Juy0eXeJ4Xra1iBwd1PrI', // sealing.jwks.json
  'aeJFIjZPOlK6QF5SluzezNxpfuSEWLYz18inaU9DNPU', // tls.key
])

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

/** True for an issuer on this machine only (localhost, 127.0.0.1, [::1]): the only issuers the dev keys may serve. */
export function isLocalIssuer (issuer: string): boolean {
  return URL.canParse(issuer) && LOCAL_HOSTS.has(new URL(issuer).hostname)
}

/** The thumbprints of the keys in a key file: a JWK Set or a PEM private key. Unreadable or unparsable files have none (the keyring reports them). */
export async function keyThumbprints (file: string): Promise<string[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    return []
  }
  if (text.includes('PRIVATE KEY-----')) {
    try {
      const spki = createPublicKey(createPrivateKey(text)).export({ type: 'spki', format: 'der' })
      return [createHash('sha256').update(spki).digest('base64url')]
    } catch {
      return []
    }
  }
  let keys: unknown
  try {
    keys = (JSON.parse(text) as { keys?: unknown }).keys
  } catch {
    return []
  }
  if (!Array.isArray(keys)) return []
  const thumbprints = await Promise.all(keys.map((jwk: JWK) => calculateJwkThumbprint(jwk).catch(() => undefined)))
  return thumbprints.filter((t): t is string => t !== undefined)
}

/** True when the file holds any of the committed dev keys, whatever its name or the other keys beside it. */
export async function holdsDevKey (file: string): Promise<boolean> {
  return (await keyThumbprints(file)).some((t) => DEV_KEY_THUMBPRINTS.has(t))
}
