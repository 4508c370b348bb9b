/** Which user claims each scope releases (OIDC Core §5.4). */
export const SCOPE_CLAIMS: Record<string, readonly string[]> = {
  profile: ['name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at'],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  address: ['address'],
}

/** Scopes the gateway understands; others are ignored as RFC 6749 §3.3 allows. */
export const SUPPORTED_SCOPES = ['openid', 'offline_access', ...Object.keys(SCOPE_CLAIMS)]

/** The space-separated scope, reduced to the supported scopes, in a stable order. */
export function normalizeScope (scope: string): string {
  const asked = new Set(scope.split(' ').filter(Boolean))
  return SUPPORTED_SCOPES.filter((s) => asked.has(s)).join(' ')
}

/** The subset of `claims` that `scope` releases. */
export function claimsForScope (scope: string, claims: Record<string, unknown>): Record<string, unknown> {
  const released: Record<string, unknown> = {}
  for (const name of scope.split(' ')) {
    for (const claim of SCOPE_CLAIMS[name] ?? []) {
      if (claims[claim] !== undefined) released[claim] = claims[claim]
    }
  }
  return released
}
