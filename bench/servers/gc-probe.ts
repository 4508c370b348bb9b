// Preloaded (--import) into the CLI gateway for the soak only, beside --expose-gc: on the bench's
// request over IPC, a full GC and process.memoryUsage before and after it (the live heap). It adds
// nothing to a request's path; the gateway itself is the CLI's.
import type { FromChild, ToChild } from '../lib/child.js'

process.on('message', (message: ToChild) => {
  const reply = (answer: FromChild) => process.send?.(answer)
  const gc = (globalThis as { gc?: () => void }).gc
  if (message.type !== 'gcMemory') return reply({ id: message.id, ok: false, error: `no handler for ${message.type}` })
  if (gc === undefined) return reply({ id: message.id, ok: false, error: 'start the gateway with --expose-gc' })
  const before = process.memoryUsage()
  gc()
  reply({ id: message.id, ok: true, result: { before, after: process.memoryUsage() } })
})
// The channel must not keep the gateway alive once SIGTERM has closed its servers.
process.channel?.unref()
