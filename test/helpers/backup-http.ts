import { runInNewContext } from 'node:vm'
import { dataOf, hasElement } from '../../harness/backup-pages.js'
import type { Browser, PageForm } from '../../harness/browser.js'
import { until } from '../../harness/poll.js'
import { freePort, startStack, type Stack } from './stack.js'
import { MemoryDirectory } from './memory-directory.js'

export { dataOf, formWith, hasElement } from '../../harness/backup-pages.js'

/** A stack with backup login on: issuer http://localhost:PORT (WebAuthn needs a domain), the directory in memory. */
export interface BackupStack extends Stack { directory: MemoryDirectory }

/** Starts a backup-login stack; `config` is merged over the stack's (backupLogin defaults to `{}`: everything on). */
export async function startBackupStack (options: Omit<NonNullable<Parameters<typeof startStack>[0]>, 'issuer' | 'directory'> = {}): Promise<BackupStack> {
  const port = await freePort()
  const directory = new MemoryDirectory()
  const stack = await startStack({
    ...options,
    issuer: `http://localhost:${port}`,
    directory,
    config: { listen: { host: '127.0.0.1', port }, backupLogin: {}, ...options.config },
  })
  return Object.assign(stack, { directory })
}

/** Submits a page's form (POST), without following the answer. */
export async function submit (browser: Browser, form: PageForm, fields: Record<string, string> = {}): ReturnType<Browser['fetch']> {
  for (const [name, value] of Object.entries(fields)) form.fields.set(name, value)
  return browser.fetch(form.action, { method: 'POST', body: form.fields })
}

/** A call of the page script: JSON in, JSON out, with the browser's cookies. */
export async function postJson (browser: Browser, url: string, body: unknown): Promise<{ status: number, body: Record<string, any>, headers: Headers }> {
  const response = await browser.fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
  return { status: response.status, body: JSON.parse(response.text) as Record<string, any>, headers: response.headers }
}

/** What the page script did after a click: where it sent the browser, which form it submitted, what it said. */
export interface ScriptRun { assigned?: string, submitted?: string, status: string }

/**
 * Runs the backup pages' script (PAGE_SCRIPT) on `page` as a browser would,
 * without one: its passkey buttons come from the page's markup, its fetches
 * go to the gateway through `browser` (cookies included), and the WebAuthn
 * library is `authenticator`. Returns the buttons' enabled state and a click
 * that resolves once the script has navigated, submitted a form or said why not.
 */
export function runPageScript (script: string, page: { text: string }, browser: Browser, authenticator: { register (options: any): unknown, authenticate (options: any): unknown }): { enabled (id: string): boolean, click (id: string): Promise<ScriptRun> } {
  const run: ScriptRun = { status: '' }
  const statusElement = { set textContent (text: string) { run.status = text }, get textContent () { return run.status } }
  const buttons = [...page.text.matchAll(/<button\b[^>]*\bid="([^"]+)"[^>]*\bdata-passkey="[^"]*"[^>]*>/g)].map((m) => {
    const listeners: Array<() => void> = []
    return { id: m[1]!, dataset: dataOf(page.text, m[1]!), disabled: true, listeners, addEventListener: (_type: string, listener: () => void) => listeners.push(listener) }
  })
  const document = {
    getElementById: (id: string) => id === 'passkey-status' ? statusElement : hasElement(page.text, id) ? { submit: () => { run.submitted = id } } : null,
    querySelectorAll: () => buttons,
  }
  const fetch = async (url: string, init: { method: string, headers: Record<string, string>, body: string }) => {
    const response = await browser.fetch(url, init)
    return { ok: response.status >= 200 && response.status < 300, status: response.status, json: async () => JSON.parse(response.text) as unknown }
  }
  const SimpleWebAuthnBrowser = {
    browserSupportsWebAuthn: () => true,
    startAuthentication: async ({ optionsJSON }: { optionsJSON: unknown }) => authenticator.authenticate(optionsJSON),
    startRegistration: async ({ optionsJSON }: { optionsJSON: unknown }) => authenticator.register(optionsJSON),
  }
  const location = { assign: (url: string) => { run.assigned = url } }
  runInNewContext(script, { document, fetch, SimpleWebAuthnBrowser, location })
  return {
    enabled: (id) => buttons.find((b) => b.id === id)?.disabled === false,
    async click (id) {
      const button = buttons.find((b) => b.id === id)
      if (button === undefined) throw new Error(`no passkey button #${id}`)
      run.status = ''
      for (const listener of button.listeners) listener()
      await until(() => run.assigned !== undefined || run.submitted !== undefined || (run.status !== '' && !button.disabled), 5000, `the script's answer to #${id}`)
      return { ...run }
    },
  }
}
