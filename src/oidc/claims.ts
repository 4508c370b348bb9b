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
  // Every token response builds this twice (ID token, access token): walk the few claims the
  // user has against the scope's set, not every claim name of every scope against the user.
  const allowed = releasedBy(scope)
  const released: Record<string, unknown> = {}
  for (const claim of Object.keys(claims)) {
    if (allowed.has(claim) && claims[claim] !== undefined) released[claim] = claims[claim]
  }
  return released
}

// Clients ask for a handful of distinct scope strings (they are normalized at /authorize); the bound
// keeps the cache small whatever reaches it.
const releasedByScope = new Map<string, ReadonlySet<string>>()
const MAX_CACHED_SCOPES = 256

/** The claim names a (normalized) scope string releases. */
function releasedBy (scope: string): ReadonlySet<string> {
  let allowed = releasedByScope.get(scope)
  if (allowed === undefined) {
    allowed = new Set(scope.split(' ').flatMap((name) => (Object.hasOwn(SCOPE_CLAIMS, name) ? SCOPE_CLAIMS[name]! : [])))
    if (releasedByScope.size < MAX_CACHED_SCOPES) releasedByScope.set(scope, allowed)
  }
  return allowed
}
