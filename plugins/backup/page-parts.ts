import { escapeHtml } from '../html.js'
import { BACKUP_PATHS } from './paths.js'

/** A paragraph of text. */
export function paragraph (text: string, className?: string): string {
  return `<p${className === undefined ? '' : ` class="${className}"`}>${escapeHtml(text)}</p>`
}

/** The scripts of a page with a passkey button: the WebAuthn library, then the page script that uses it. */
export function passkeyScripts (issuer: string): string[] {
  return [`${issuer}${BACKUP_PATHS.webauthnScript}`, `${issuer}${BACKUP_PATHS.pageScript}`]
}

/**
 * A passkey button for the page script (`data-passkey` is `login` or
 * `register`, the other `data-*` its URLs and proofs), disabled until the
 * script finds that the browser can use passkeys; then the line where
 * refusals are shown, and what a browser without scripts is told.
 */
export function passkeyButton (id: string, label: string, data: Record<string, string>): string {
  const attributes = Object.entries(data).map(([name, value]) => ` data-${name}="${escapeHtml(value)}"`).join('')
  return `<button type="button" id="${escapeHtml(id)}"${attributes} disabled>${escapeHtml(label)}</button>` +
    '<p id="passkey-status" class="status" role="status" aria-live="polite"></p>' +
    '<noscript><p>Passkeys need JavaScript, which is off in this browser.</p></noscript>'
}
