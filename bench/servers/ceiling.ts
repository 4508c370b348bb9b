// The ceilings: what Fastify alone answers (hello world), and with one ES256 JWT signed per request.
import Fastify from 'fastify'
import { SignJWT } from 'jose'
import { loadKeyring } from '../../src/keys/keyring.js'
import { mintIdToken, type GrantContext } from '../../src/oidc/tokens.js'
import { serve } from '../lib/child.js'

const app = Fastify({ logger: false })

/** A grant shaped like the bench users', so the ID token is as big as the gateway's. */
const GRANT: GrantContext = {
  gid: 'bench-grant-id-0123456789', clientId: 'shop', sub: 'bench-subject-0123456789abcdefghijklmnopq', sid: 'bench-session-id-0123456789',
  provider: 'idp', scope: 'openid profile email', claims: { email: 'user-1@example.com', email_verified: true, name: 'User-1' },
  authTime: 0, vouchedAt: 0, acr: 'urn:understudy:acr:upstream', nonce: 'bench-nonce-0123', upstreamSub: 'user-1',
}

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
