import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'
import { requireTool } from './tools.js'

// Headless Chromium from Debian's package (never downloaded), driven by playwright-core.

/** Debian's Chromium, or the one CHROMIUM_PATH names. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** False when Chromium can run here, otherwise the reason to skip (a failure under CI). */
export const noChromium = requireTool('chromium', existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM}`)

/** Headless Chromium for one test file (every device of the file is a context of it). */
export async function launchChromium (): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}
