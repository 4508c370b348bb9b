// The ceilings: what Fastify alone answers (hello world), and with one ES256 JWT signed per request.
import Fastify from 'fastify'
import { SignJWT } from 'jose'
import { loadKeyring } from '../../src/keys/keyring.js'
import { mintIdToken } from '../../src/oidc/tokens.js'
import { serve } from '../lib/child.js'
import { CEILING_GRANT as GRANT } from './ceiling-grant.js'

const app = Fastify({ logger: false })

serve({
  async start (payload) {
    const keys = await loadKeyring(payload as { signing: string, sealing: string })
    const signer = keys.signer('ES256')!
    app.get('/hello', async () => ({ hello: 'world' }))
    // The ES256 ceiling: one ID token per request, signed exactly as the gateway signs it.
    app.get('/es256', async () => {
      const now = Math.floor(Date.now() / 1000)
      return { token: await mintIdToken(signer, 'http://127.0.0.1', { ...GRANT, authTime: now, vouchedAt: now }, now, 3600) }
    })
    // The same token through jose's SignJWT (WebCrypto), for reference: what the gateway signed with before.
    app.get('/es256-jose', async () => {
      const now = Math.floor(Date.now() / 1000)
      const token = await new SignJWT({ ...GRANT.claims, azp: GRANT.clientId, auth_time: now, acr: GRANT.acr, sid: GRANT.sid, nonce: GRANT.nonce })
        .setProtectedHeader({ alg: 'ES256', kid: signer.kid, typ: 'JWT' })
        .setIssuer('http://127.0.0.1').setSubject(GRANT.sub).setAudience(GRANT.clientId).setIssuedAt(now).setExpirationTime(now + 3600)
        .sign(signer.key)
      return { token }
    })
    const url = await app.listen({ host: '127.0.0.1', port: 0 })
    return { url }
  },
}, async () => { await app.close() })
