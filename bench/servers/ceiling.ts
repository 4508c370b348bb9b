// The ceilings: what Fastify alone answers (hello world), and with one ES256 JWT signed per request.
import { readFile } from 'node:fs/promises'
import Fastify from 'fastify'
import { importJWK, SignJWT, type CryptoKey, type JWK } from 'jose'
import { serve } from '../lib/child.js'

const app = Fastify({ logger: false })

serve({
  async start (payload) {
    const { signingJwks } = payload as { signingJwks: string }
    const jwks = JSON.parse(await readFile(signingJwks, 'utf8')) as { keys: JWK[] }
    const jwk = jwks.keys.find((k) => k.alg === 'ES256')!
    // Imported once, as the gateway does: the route pays for signing only.
    const key = await importJWK(jwk, 'ES256') as CryptoKey
    app.get('/hello', async () => ({ hello: 'world' }))
    // Claims shaped like an ID token, so the payload is as big as the gateway's.
    app.get('/es256', async () => {
      const now = Math.floor(Date.now() / 1000)
      const token = await new SignJWT({ email: 'user@example.com', email_verified: true, name: 'User', azp: 'shop', auth_time: now, acr: 'urn:understudy:acr:upstream', sid: 'bench-session-id-0123456789' })
        .setProtectedHeader({ alg: 'ES256', kid: jwk.kid!, typ: 'JWT' })
        .setIssuer('http://127.0.0.1').setSubject('bench-subject').setAudience('shop').setIssuedAt(now).setExpirationTime(now + 3600)
        .sign(key)
      return { token }
    })
    const url = await app.listen({ host: '127.0.0.1', port: 0 })
    return { url }
  },
}, async () => { await app.close() })
