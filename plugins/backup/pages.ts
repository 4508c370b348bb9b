import type { FastifyReply } from 'fastify'
import type { BackupPage } from '../../src/backup/page.js'
import type { Gateway } from '../../src/gateway.js'
import type { PageOutcome } from '../../src/oidc/answer.js'
import { browserProof } from '../../src/oidc/browser-proof.js'
import { BACKUP_PAGE_HEADERS, formHtml, sendHtml } from '../html.js'
import { paragraph, passkeyButton, passkeyScripts } from './page-parts.js'
import { ACCOUNT_PROOF, BACKUP_PATHS } from './paths.js'

type OfferPage = Extract<BackupPage, { kind: 'offer' }>
type OutagePage = Extract<BackupPage, { kind: 'outage' }>

/**
 * Renders the backup page an endpoint answered with (200, no-store, the
 * backup pages' CSP): the offer after an upstream login, or the outage page
 * of /authorize. The outcome's cookies are the caller's to set.
 */
export function sendBackupPage (reply: FastifyReply, gw: Pick<Gateway, 'config' | 'cookies'>, outcome: PageOutcome): FastifyReply {
  const { page } = outcome
  const issuer = gw.config.issuer
  if (page.kind === 'outage') return outagePage(reply, issuer, page)
  // The offer's passkey registration is proved with the session cookie this very answer sets.
  const session = outcome.cookies.find((cookie) => cookie.name === gw.cookies.session && cookie.maxAge > 0)
  return offerPage(reply, issuer, page, session === undefined ? '' : browserProof(session.value, ACCOUNT_PROOF))
}

/** "Add a passkey" (then on to the site) or "Not now" (on to the site, and not asked again for a while). */
function offerPage (reply: FastifyReply, issuer: string, page: OfferPage, csrf: string): FastifyReply {
  const { provider, site, context } = page
  const body = [
    paragraph(`You logged in with ${provider}. If ${provider} is down, you can still log in with a passkey.`),
    paragraph(`A passkey stays on this device or in your password manager and opens with your screen lock, fingerprint or face. It logs you in to ${site} as the same account, without ${provider}.`, 'detail'),
    passkeyButton('add-passkey', 'Add a passkey', {
      passkey: 'register',
      options: `${issuer}${BACKUP_PATHS.registrationOptions}`,
      submit: `${issuer}${BACKUP_PATHS.passkeys}`,
      csrf,
      continue: 'offer-continue',
    }),
    formHtml({ action: `${issuer}${BACKUP_PATHS.offerDecline}`, fields: { context }, button: 'Not now', id: 'offer-decline', buttonId: 'not-now' }),
    formHtml({ action: `${issuer}${BACKUP_PATHS.offerContinue}`, fields: { context }, button: `Continue to ${site}`, id: 'offer-continue', hidden: true }),
    paragraph('You can add or remove passkeys later on your account page.', 'detail'),
  ]
  return sendHtml(reply, 200, 'Add a passkey?', body.join(''), { headers: BACKUP_PAGE_HEADERS, scripts: passkeyScripts(issuer) })
}

/**
 * The provider is down and no session can serve: a passkey, the linked
 * providers that are up, or back to the site with temporarily_unavailable.
 * While it is up (passkeyWhenHealthy): the provider, or a passkey.
 */
function outagePage (reply: FastifyReply, issuer: string, page: OutagePage): FastifyReply {
  const { provider, site, context, down, passkey, linked } = page
  const body: string[] = []
  if (down) {
    const ways = [passkey ? 'with a passkey you added' : '', linked.length > 0 ? 'with another provider you linked to your account' : ''].filter(Boolean).join(' or ')
    body.push(paragraph(`You can still log in to ${site} ${ways}.`))
  } else {
    body.push(formHtml({ action: `${issuer}${BACKUP_PATHS.upstream}`, fields: { context }, button: `Continue with ${provider}`, buttonId: 'continue-upstream' }))
  }
  if (passkey) {
    body.push(passkeyButton('passkey-login', 'Log in with a passkey', {
      passkey: 'login',
      options: `${issuer}${BACKUP_PATHS.passkeyLoginOptions}`,
      submit: `${issuer}${BACKUP_PATHS.passkeyLogin}`,
      context,
    }))
  }
  for (const id of linked) {
    body.push(formHtml({ action: `${issuer}${BACKUP_PATHS.linked}`, fields: { context, provider: id }, button: `Log in with ${id}`, buttonId: `linked-${id}` }))
  }
  if (down) {
    body.push(paragraph(`Or go back to ${site} and try again later.`, 'detail'))
    body.push(formHtml({ action: `${issuer}${BACKUP_PATHS.back}`, fields: { context }, button: `Back to ${site}`, buttonId: 'back-to-site' }))
  }
  const title = down ? `${provider} is not answering right now` : `Log in to ${site}`
  return sendHtml(reply, 200, title, body.join(''), { headers: BACKUP_PAGE_HEADERS, scripts: passkey ? passkeyScripts(issuer) : [] })
}
