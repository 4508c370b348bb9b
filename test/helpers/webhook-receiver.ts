import { createHmac } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

/** One delivery as the receiver saw it: headers, the raw body and the parsed event. */
export interface Received { headers: IncomingMessage['headers'], body: string, event: Record<string, any> }

export interface Receiver {
  url: string
  received: Received[]
  attempts (): number
}

/** A real webhook receiver on 127.0.0.1, closed with the test; `answer` decides each response (default 204). */
export async function webhookReceiver (t: Test, answer: (n: number, res: ServerResponse) => void = (_n, res) => { res.writeHead(204).end() }): Promise<Receiver> {
  const received: Received[] = []
  let attempts = 0
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => { body += c })
    req.on('end', () => {
      attempts++
      received.push({ headers: req.headers, body, event: JSON.parse(body) })
      answer(attempts, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, attempts: () => attempts }
}

/** Whether the delivery's `understudy-signature` carries a v1 that `secret` makes over its timestamp and body, as a receiver checks it. */
export function signedWith (delivery: Received, secret: string): boolean {
  const header = String(delivery.headers['understudy-signature'] ?? '')
  const at = /^t=(\d+),/.exec(header)?.[1]
  if (at === undefined) return false
  const expected = createHmac('sha256', secret).update(`${at}.${delivery.body}`).digest('hex')
  return header.split(',').slice(1).includes(`v1=${expected}`)
}
