/** Adds `params` to a redirect URI's query, keeping the query it was registered with (RFC 6749 §3.1.2). */
export function withQuery (uri: string, params: Record<string, string | undefined>): string {
  // The usual redirect URI is already in normal form and has no query: append
  // to it. The URL parser and URLSearchParams serializer cost 5 µs per SSO
  // flow on a 1 KB code (bench/README.md, "Profile findings").
  if (isPlain(uri)) {
    try {
      let query = ''
      for (const [name, value] of Object.entries(params)) {
        if (value !== undefined) query += `${query === '' ? '?' : '&'}${formEncode(name)}=${formEncode(value)}`
      }
      return uri + query
    } catch {
      // A lone surrogate: encodeURIComponent refuses it, URLSearchParams writes U+FFFD.
    }
  }
  const url = new URL(uri)
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value)
  return url.href
}

/** An authorization response: the parameters plus `state` and `iss` (RFC 9207), as a redirect URL. */
export function authorizationResponse (redirectUri: string, issuer: string, state: string | undefined, params: Record<string, string | undefined>): string {
  return withQuery(redirectUri, { ...params, state, iss: issuer })
}

// Whether a URI is its own WHATWG serialization and has no query or fragment,
// so that appending a query gives what URL and URLSearchParams would. Only
// registered URIs reach here; the bound keeps the cache small regardless.
const plain = new Map<string, boolean>()
const MAX_CACHED = 1000

function isPlain (uri: string): boolean {
  let known = plain.get(uri)
  if (known === undefined) {
    let parsed: URL | undefined
    try {
      parsed = new URL(uri)
    } catch {}
    known = parsed !== undefined && parsed.href === uri && parsed.search === '' && parsed.hash === '' && !uri.endsWith('?') && !uri.endsWith('#')
    if (plain.size < MAX_CACHED) plain.set(uri, known)
  }
  return known
}

/** Characters URLSearchParams leaves as they are: codes and tokens (base64url) are all of them. */
const FORM_SAFE = /^[A-Za-z0-9*._-]*$/

/** application/x-www-form-urlencoded, byte for byte as URLSearchParams writes it (WHATWG URL §5.2). */
function formEncode (value: string): string {
  if (FORM_SAFE.test(value)) return value
  return encodeURIComponent(value).replace(/%20|[!'()~]/g, (c) => (c === '%20' ? '+' : `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
}
