import t from 'tap'
import { claimsForScope } from '../../src/oidc/claims.js'

const CLAIMS = { name: 'Kim', email: 'kim@example.com', email_verified: true, phone_number: '+82', address: { country: 'KR' }, custom: 'x', locale: undefined }

t.test('each scope releases its own claims (OIDC Core §5.4), nothing else', async (t) => {
  t.same(claimsForScope('openid', CLAIMS), {})
  t.same(claimsForScope('openid email', CLAIMS), { email: 'kim@example.com', email_verified: true })
  t.same(claimsForScope('openid profile', CLAIMS), { name: 'Kim' }, 'an undefined claim is left out')
  t.same(claimsForScope('openid profile email phone address', CLAIMS), { name: 'Kim', email: 'kim@example.com', email_verified: true, phone_number: '+82', address: { country: 'KR' } })
  t.same(claimsForScope('openid email', CLAIMS), { email: 'kim@example.com', email_verified: true }, 'the same answer a second time (cached per scope)')
})

t.test('scope names that are not scopes release nothing', async (t) => {
  t.same(claimsForScope('openid constructor __proto__ toString', { ...CLAIMS, constructor: 'c', toString: 's' }), {})
})
