import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core'
import type { Test } from 'tap'

export { CHROMIUM, launchChromium, noChromium } from './chromium.js'

/**
 * The relying parties' landing pages, on 127.0.0.1: a browser must arrive
 * somewhere real (a redirect is never handed to a test's route), and the
 * test redeems the code it brought with openid-client.
 */
export interface Site { url: string, close (): Promise<void> }

/** Starts the sites' listener: every GET answers "Back at the site". */
export async function startSite (): Promise<Site> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end('<!doctype html><title>The site</title><p>Back at the site.</p>')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve))
      server.closeAllConnections()
      await closed
    },
  }
}

/** A credential as CDP's WebAuthn domain gives and takes it (base64 fields). */
export interface VirtualCredential {
  credentialId: string
  isResidentCredential: boolean
  rpId?: string
  privateKey: string
  userHandle?: string
  signCount: number
  backupEligibility?: boolean
  backupState?: boolean
}

/**
 * One device: a browser context of its own (its own cookies) with a CDP
 * virtual authenticator (CTAP2, platform, resident keys, user verification
 * that always succeeds); it records every navigation to the site.
 */
export interface Device {
  context: BrowserContext
  page: Page
  cdp: CDPSession
  authenticatorId: string
  /** Every URL of the site the browser was sent to, in order. */
  atSite: string[]
  /** The credentials the authenticator holds now. */
  credentials (): Promise<VirtualCredential[]>
  /** Puts a credential on the authenticator, as a passkey synced from another device arrives. */
  addCredential (credential: VirtualCredential): Promise<void>
  /** Waits until the browser is at the site; the URL it was sent to. */
  landed (): Promise<URL>
}

/** Opens a new device in `browser`, closed at the end of `t`, that may land at `site`; its passkeys are backup-eligible (synced). */
export async function newDevice (t: Test, browser: Browser, site: Site, credentials: VirtualCredential[] = []): Promise<Device> {
  // Chromium's own user agent rather than headless's, so a passkey is named as a person's browser would name it.
  const userAgent = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${browser.version()} Safari/537.36`
  const context = await browser.newContext({ viewport: { width: 480, height: 640 }, userAgent })
  t.teardown(() => context.close())
  const atSite: string[] = []
  const page = await context.newPage()
  page.on('request', (request) => { if (request.isNavigationRequest() && request.url().startsWith(site.url)) atSite.push(request.url()) })
  const cdp = await context.newCDPSession(page)
  await cdp.send('WebAuthn.enable')
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
      defaultBackupEligibility: true,
      defaultBackupState: true,
    },
  })
  const device: Device = {
    context,
    page,
    cdp,
    authenticatorId,
    atSite,
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials as VirtualCredential[],
    addCredential: async (credential) => { await cdp.send('WebAuthn.addCredential', { authenticatorId, credential }) },
    landed: async () => {
      await page.waitForURL((url) => url.href.startsWith(site.url))
      return new URL(page.url())
    },
  }
  for (const credential of credentials) await device.addCredential(credential)
  return device
}
