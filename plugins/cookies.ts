import type { FastifyReply } from 'fastify'
import type { Gateway } from '../src/gateway.js'

/** Sets (or, with maxAge 0, clears) the gateway's cookies: HttpOnly, SameSite=Lax, Path=/, Secure on https. */
export function applyCookies (reply: FastifyReply, gw: Gateway, cookies: Array<{ name: string, value: string, maxAge: number }>): void {
  for (const cookie of cookies) {
    const options = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: gw.cookies.secure }
    if (cookie.maxAge <= 0) reply.clearCookie(cookie.name, options)
    else reply.setCookie(cookie.name, cookie.value, { ...options, maxAge: cookie.maxAge })
  }
}
