/**
 * The backup-login routes (DESIGN §10), in one place: the pages' forms and
 * buttons point at them and the routes are registered at them. Browser tests
 * and the page script rely on these; changing one is an interface change.
 */
export const BACKUP_PATHS = {
  /** @simplewebauthn/browser's bundle (defines `SimpleWebAuthnBrowser`). */
  webauthnScript: '/backup/webauthn.js',
  /** The pages' own script: wires the passkey buttons. */
  pageScript: '/backup/backup.js',
  passkeyLoginOptions: '/backup/passkey/options',
  passkeyLogin: '/backup/passkey/login',
  linked: '/backup/linked',
  back: '/backup/back',
  upstream: '/backup/upstream',
  offerContinue: '/backup/offer/continue',
  offerDecline: '/backup/offer/decline',
  account: '/account',
  accountLogin: '/account/login',
  link: '/account/link',
  unlink: '/account/links/:provider/delete',
  registrationOptions: '/account/passkeys/options',
  passkeys: '/account/passkeys',
  removePasskey: '/account/passkeys/:id/delete',
} as const

/** A path with its `:name` parameters filled in (URI-encoded). */
export function pathWith (path: string, params: Record<string, string>): string {
  return path.replace(/:([a-z]+)/g, (_, name: string) => encodeURIComponent(params[name] ?? ''))
}

/** The purpose of the account page's browser proof (CSRF), for its forms and its passkey registration. */
export const ACCOUNT_PROOF = 'account'
