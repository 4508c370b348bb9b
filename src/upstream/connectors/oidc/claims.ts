/** Profile and email claims passed through from an upstream ID token or userinfo response. */
export const STANDARD_CLAIMS: readonly string[] = [
  'email', 'email_verified', 'name', 'given_name', 'family_name', 'nickname', 'preferred_username',
  'picture', 'locale', 'phone_number', 'phone_number_verified',
]

/** The standard claims present in `source`; anything else (`sub`, `iss`, `aud`, custom claims) stays behind. */
export function pickStandardClaims (source: Record<string, unknown> | undefined): Record<string, unknown> {
  const claims: Record<string, unknown> = {}
  if (source === undefined) return claims
  for (const name of STANDARD_CLAIMS) {
    const value = source[name]
    if (value !== undefined && value !== null) claims[name] = value
  }
  return claims
}
