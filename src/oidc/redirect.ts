/** Adds `params` to a redirect URI's query, keeping the query it was registered with (RFC 6749 §3.1.2). */
export function withQuery (uri: string, params: Record<string, string | undefined>): string {
  const url = new URL(uri)
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value)
  return url.href
}

/** An authorization response: the parameters plus `state` and `iss` (RFC 9207), as a redirect URL. */
export function authorizationResponse (redirectUri: string, issuer: string, state: string | undefined, params: Record<string, string | undefined>): string {
  return withQuery(redirectUri, { ...params, state, iss: issuer })
}
