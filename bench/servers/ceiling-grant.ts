import type { GrantContext } from '../../src/oidc/tokens.js'

/** A grant shaped like the bench users', so a ceiling's ID token is as big as the gateway's (ceiling.ts, sign.ts). */
export const CEILING_GRANT: GrantContext = {
  gid: 'bench-grant-id-0123456789', clientId: 'shop', sub: 'bench-subject-0123456789abcdefghijklmnopq', sid: 'bench-session-id-0123456789',
  provider: 'idp', scope: 'openid profile email', claims: { email: 'user-1@example.com', email_verified: true, name: 'User-1' },
  authTime: 0, vouchedAt: 0, acr: 'urn:understudy:acr:upstream', nonce: 'bench-nonce-0123', upstreamSub: 'user-1',
}
