// A new passkey's default name: what the user sees on /account among their
// other passkeys, so it says where and when it was added. The user agent is
// only a hint (it is never trusted for anything else), and only the few
// browsers and systems people recognise are named.

const BROWSERS: ReadonlyArray<[RegExp, string]> = [
  [/\bEdg(e|A|iOS)?\//, 'Edge'],
  [/\b(OPR|Opera)\//, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\b(Firefox|FxiOS)\//, 'Firefox'],
  [/\b(Chrome|CriOS|Chromium)\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
]

const SYSTEMS: ReadonlyArray<[RegExp, string]> = [
  [/\biPhone\b/, 'iOS'],
  [/\biPad\b/, 'iPadOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
]

// Spelled out rather than Intl's: ICU versions disagree on short month names ("Sep", "Sept").
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

function first (table: ReadonlyArray<[RegExp, string]>, userAgent: string): string | undefined {
  return table.find(([pattern]) => pattern.test(userAgent))?.[1]
}

/** A UTC date as people write it: "3 Dec 2026". */
export function dayOf (seconds: number): string {
  const date = new Date(seconds * 1000)
  return `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()}`
}

/** "Passkey on Chrome (Linux), 3 Dec 2026" from the user agent that added it, or "Passkey added 3 Dec 2026" without one we recognise. */
export function passkeyName (createdAt: number, userAgent?: string): string {
  const ua = (userAgent ?? '').slice(0, 512)
  const browser = first(BROWSERS, ua)
  const system = first(SYSTEMS, ua)
  const where = browser !== undefined && system !== undefined ? `${browser} (${system})` : browser ?? system
  return where === undefined ? `Passkey added ${dayOf(createdAt)}` : `Passkey on ${where}, ${dayOf(createdAt)}`
}
