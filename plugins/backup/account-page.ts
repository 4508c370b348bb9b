import type { FastifyReply } from 'fastify'
import { CHANGE_METHODS_WITHIN, type AccountView } from '../../src/backup/account.js'
import type { AccountResult } from '../../src/backup/account-visit.js'
import { dayOf } from '../../src/backup/passkey-name.js'
import { BACKUP_PAGE_HEADERS, escapeHtml, formHtml, sendHtml, sendPage } from '../html.js'
import { paragraph, passkeyButton, passkeyScripts } from './page-parts.js'
import { BACKUP_PATHS, pathWith } from './paths.js'

/** What `/account?result=` may say: the end of a visit to the upstream (AccountResult), or of one of the page's own forms. */
export type AccountPageResult = AccountResult | 'unlinked' | 'passkey-added' | 'passkey-removed' | 'unchanged'

const RESULTS: Record<AccountPageResult, string> = {
  'signed-in': 'You are logged in.',
  linked: 'The provider is linked: you can log in with it when your own provider is down.',
  'already-linked': 'That account was already linked to you.',
  taken: 'That account is linked to another person here, so it was not linked to you.',
  'same-provider': 'That was a login at your own provider, not at another one: nothing was linked.',
  'not-fresh': 'Nothing was linked: the provider did not ask you to log in again. Sign out there and retry.',
  expired: 'Nothing was linked: your login here had ended or was too old. Log in again and retry.',
  unavailable: 'That did not work: a service it needs is not answering right now. Please try again in a few minutes.',
  failed: 'The login at the provider did not complete. Nothing changed.',
  unlinked: 'The provider was unlinked.',
  'passkey-added': 'Your passkey was added.',
  'passkey-removed': 'The passkey was removed.',
  unchanged: 'Nothing changed: it was already gone.',
}

/** The result a query names, when it is one the page knows (anything else is ignored, never echoed). */
export function accountResult (value: unknown): AccountPageResult | undefined {
  return typeof value === 'string' && Object.hasOwn(RESULTS, value) ? value as AccountPageResult : undefined
}

/** What GET /account shows: login buttons without a session, the person's methods with one, or why they cannot be shown. */
export type AccountPage =
  | { kind: 'login', providers: string[], result?: AccountPageResult }
  | { kind: 'methods', view: AccountView, csrf: string, passkeys: boolean, result?: AccountPageResult }
  | { kind: 'unavailable' }

const TITLE = 'How you log in'

/** Renders the account page (200: even a directory that cannot answer is explained, never a 5xx). */
export function sendAccountPage (reply: FastifyReply, issuer: string, page: AccountPage): FastifyReply {
  if (page.kind === 'unavailable') {
    const body = '<p id="directory-unavailable">Your ways to log in cannot be shown right now: the directory that keeps them is not answering. Please try again in a few minutes.</p>'
    return sendHtml(reply, 200, TITLE, body, { headers: BACKUP_PAGE_HEADERS })
  }
  const result = page.result === undefined ? '' : `<p id="account-result" class="status" role="status">${escapeHtml(RESULTS[page.result])}</p>`
  if (page.kind === 'login') {
    const buttons = page.providers.map((id) => formHtml({ action: `${issuer}${BACKUP_PATHS.accountLogin}`, fields: { provider: id }, button: `Log in with ${id}`, buttonId: `account-login-${id}` }))
    const body = result + paragraph('Log in to see and change how you log in: your passkeys, and the other providers linked to your account.') + buttons.join('')
    return sendHtml(reply, 200, TITLE, body, { headers: BACKUP_PAGE_HEADERS })
  }
  const { view, csrf } = page
  const mayAdd = view.canChange && page.passkeys
  const body = result + own(view) + links(issuer, view, csrf) + passkeys(issuer, view, csrf, mayAdd) + (view.canChange ? '' : relogin(issuer, view))
  return sendHtml(reply, 200, TITLE, body, { headers: BACKUP_PAGE_HEADERS, scripts: mayAdd ? passkeyScripts(issuer) : [] })
}

/** GET /account while backup login is off: there is no such page. */
export function sendAccountOff (reply: FastifyReply): FastifyReply {
  return sendPage(reply, 404, 'There is no account page here', ['Backup login is not enabled on this gateway, so there are no login methods to manage.'])
}

function own (view: AccountView): string {
  return `<h2>Your provider</h2><ul><li id="own-provider"><strong>${escapeHtml(view.provider)}</strong>: your own login, always a way in</li></ul>`
}

function links (issuer: string, view: AccountView, csrf: string): string {
  const items = view.links.map((link) => {
    const unlink = view.canChange ? formHtml({ action: `${issuer}${pathWith(BACKUP_PATHS.unlink, { provider: link.provider })}`, fields: { csrf }, button: `Unlink ${link.provider}`, buttonId: `unlink-${link.provider}` }) : ''
    return `<li class="link" data-provider="${escapeHtml(link.provider)}"><strong>${escapeHtml(link.provider)}</strong>, linked ${escapeHtml(dayOf(link.linkedAt))}${unlink}</li>`
  })
  const list = items.length > 0 ? `<ul>${items.join('')}</ul>` : paragraph('No other provider is linked to your account.')
  const linkable = view.canChange
    ? view.linkable.map((id) => formHtml({ action: `${issuer}${BACKUP_PATHS.link}`, fields: { csrf, provider: id }, button: `Link ${id}`, buttonId: `link-${id}` })).join('')
    : ''
  return `<h2>Linked providers</h2>${list}${linkable}`
}

function passkeys (issuer: string, view: AccountView, csrf: string, mayAdd: boolean): string {
  const items = view.passkeys.map((passkey) => {
    const used = passkey.lastUsedAt === undefined ? 'never used' : `last used ${dayOf(passkey.lastUsedAt)}`
    const remove = view.canChange ? formHtml({ action: `${issuer}${pathWith(BACKUP_PATHS.removePasskey, { id: passkey.id })}`, fields: { csrf }, button: 'Remove', buttonId: `remove-passkey-${passkey.id}` }) : ''
    return `<li class="passkey" data-credential-id="${escapeHtml(passkey.id)}"><strong>${escapeHtml(passkey.name)}</strong>: added ${escapeHtml(dayOf(passkey.createdAt))}, ${used}${passkey.synced ? ', synced between your devices' : ''}${remove}</li>`
  })
  const list = items.length > 0 ? `<ul>${items.join('')}</ul>` : paragraph('You have no passkey yet.')
  const add = mayAdd
    ? passkeyButton('add-passkey', 'Add a passkey', {
      passkey: 'register',
      options: `${issuer}${BACKUP_PATHS.registrationOptions}`,
      submit: `${issuer}${BACKUP_PATHS.passkeys}`,
      csrf,
      done: `${issuer}${BACKUP_PATHS.account}?result=passkey-added`,
    })
    : ''
  return `<h2>Passkeys</h2>${list}${add}`
}

/** Instead of the change buttons, when this session may not change methods (a backup login, or an upstream login too long ago). */
function relogin (issuer: string, view: AccountView): string {
  return paragraph(`Changing how you log in needs a login at ${view.provider} within the last ${CHANGE_METHODS_WITHIN / 60} minutes.`) +
    formHtml({ action: `${issuer}${BACKUP_PATHS.accountLogin}`, fields: { provider: view.provider }, button: `Log in again at ${view.provider} to change how you log in`, buttonId: 'relogin' })
}
