import { until } from '../../harness/poll.js'
import type { Stack } from './stack.js'

/** The admin token the e2e stacks are given (`config.admin.token`). */
export const ADMIN_TOKEN = 'e2e-admin-token-of-at-least-32-characters'
/** An admin listener with that token, for `startStack({ config: { admin: ADMIN } })`. */
export const ADMIN = { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN }

/** One admin API call, JSON in and out. */
export async function admin (s: Stack, method: string, path: string, body?: unknown, token = ADMIN_TOKEN): Promise<{ status: number, body: Record<string, any> }> {
  const response = await fetch(`${s.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: response.status, body: await response.json() as Record<string, any> }
}

/** Polls `check` every 50 ms until it holds; throws after `timeoutMs`, naming `what`. */
export async function waitFor (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  await until(check, timeoutMs, what)
}
