/**
 * The demo site's view of an ID token: each claim a newcomer should read
 * (who, how, when) with what it means, so the demo shows what a relying
 * party learns from an upstream, a cached or a backup login.
 */

/** What each `acr` the gateway issues tells the site (DESIGN §5, §10). */
export const ACR_MEANINGS: ReadonlyArray<readonly [acr: string, meaning: string]> = [
  ['urn:understudy:acr:upstream', 'the provider vouched for you: a login there just now, or single sign-on within the site\'s maxStaleness of one'],
  ['urn:understudy:acr:cached', 'the provider is down: the gateway vouches from your last login there in this browser (auth_time says how old it is)'],
  ['urn:understudy:acr:backup', 'the provider is down: you logged in with a passkey or a linked provider you added while it worked; a fresh login, the same sub'],
]

/** RFC 8176 `amr` values the demo can show. */
const AMR_MEANINGS: Record<string, string> = {
  pwd: 'a password (the demo upstream\'s login form)',
  hwk: 'a key bound to one device (a passkey)',
  swk: 'a key that may be copied between devices (a synced passkey)',
  user: 'the authenticator checked it is you (PIN or biometrics)',
  fed: 'a login at another, linked provider',
}

const esc = (value: unknown): string => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** The claims table: sub, acr, amr and auth_time first, each explained; then profile and lifetime claims. */
export function idTokenTable (claims: Record<string, unknown>, now: number): string {
  const row = (name: string, value: string, note = ''): string =>
    `<tr><th>${name}</th><td id="claim-${name}">${value}${note === '' ? '' : `<br><small>${note}</small>`}</td></tr>`
  const code = (value: unknown): string => `<code>${esc(value ?? '—')}</code>`
  const acr = typeof claims.acr === 'string' ? claims.acr : undefined
  const amr = Array.isArray(claims.amr) ? claims.amr.map(String) : []
  const backup = acr === 'urn:understudy:acr:backup'
  return `<table>
${row('sub', code(claims.sub), 'who you are to this site; the same whichever way you logged in')}
${row('acr', code(acr), esc(ACR_MEANINGS.find(([value]) => value === acr)?.[1] ?? 'not one the gateway issues'))}
${row('amr', amr.length === 0 ? code(undefined) : amr.map(code).join(' '), esc(amr.map((value) => `${value}: ${AMR_MEANINGS[value] ?? 'see RFC 8176'}`).join('; ')))}
${row('auth_time', code(claims.auth_time), esc(when(claims.auth_time, now, 'when you last authenticated')))}
${row('email', code(claims.email), backup ? 'a backup login carries no profile claims: keep the ones from your last provider login' : '')}
${row('name', code(claims.name))}
${row('iat', code(claims.iat), esc(when(claims.iat, now, 'issued')))}
${row('exp', code(claims.exp), esc(when(claims.exp, now, 'expires')))}
</table>`
}

/** The ACR values and their meanings, for the page's legend. */
export function acrLegend (): string {
  return `<dl>${ACR_MEANINGS.map(([acr, meaning]) => `<dt><code>${esc(acr)}</code></dt><dd>${esc(meaning)}</dd>`).join('')}</dl>`
}

/** A NumericDate for people: the date and time, and how long ago (or from now). */
function when (value: unknown, now: number, what: string): string {
  if (typeof value !== 'number') return ''
  const at = new Date(value * 1000).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'long' })
  const delta = now - value
  return `${what} ${at}, ${delta >= 0 ? `${span(delta)} ago` : `in ${span(-delta)}`}`
}

function span (seconds: number): string {
  if (seconds < 60) return `${seconds} s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`
  return `${Math.floor(seconds / 86_400)} d ${Math.floor((seconds % 86_400) / 3600)} h`
}
