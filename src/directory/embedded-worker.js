// @ts-check
// JavaScript, not TypeScript, so that the worker starts the same everywhere:
// from dist/, and from the sources under tsx on Node 20, where tsx's loader
// never reaches worker threads (it does only from Node 22.22 and 24.11).
import { mkdir } from 'node:fs/promises'
import { inspect } from 'node:util'
import { parentPort, workerData } from 'node:worker_threads'
import { PGlite } from '@electric-sql/pglite'

/**
 * The thread that hosts the embedded directory's PGlite (embedded.ts starts
 * it): PostgreSQL in WebAssembly runs each statement, and creates a new
 * database, synchronously, so here it holds up this thread alone and never
 * the gateway's event loop. Every request gets exactly one reply with its
 * id; PGlite's own mutexes order the statements, so a transaction's
 * statements run inside it while every other statement waits for it to end.
 *
 * @typedef {{ id: number, op: 'query', text: string, params: readonly unknown[] }
 *   | { id: number, op: 'begin' }
 *   | { id: number, op: 'tx-query', tx: number, text: string, params: readonly unknown[] }
 *   | { id: number, op: 'commit' | 'rollback', tx: number }
 *   | { id: number, op: 'close' }} WorkerRequest
 *   What the gateway asks of the worker.
 * @typedef {{ name: string, message: string, fields: Record<string, string | number | boolean> }} WireError
 *   A failure as it crosses threads: its message and the database's own fields
 *   (`code` is the SQLSTATE; `severity` says the database answered).
 * @typedef {{ op: 'ready' }
 *   | { op: 'failed', error: WireError }
 *   | { id: number, rows: unknown[] }
 *   | { id: number, tx: number }
 *   | { id: number, done: true }
 *   | { id: number, error: WireError }} WorkerReply
 *   `ready` (or `failed`) once the database is open, then one reply per request.
 * @typedef {{ dataDir: string, idleMs: number }} WorkerOptions
 *   `idleMs`: how long an open transaction waits for its caller's next
 *   request before it is rolled back.
 * @typedef {{ tx: import('@electric-sql/pglite').Transaction, end: (commit: boolean) => void, finished: Promise<unknown>, idle: NodeJS.Timeout | undefined }} OpenTransaction
 *   PGlite's transaction callback waits on `end` until the gateway commits or rolls back.
 */

/** Thrown inside PGlite's transaction callback so that PGlite rolls back. */
const ROLLBACK = Symbol('rollback')

/**
 * A failure's message and the primitive fields a database error carries (code, severity, detail, constraint…), for the other thread.
 * @param {unknown} err
 * @returns {WireError}
 */
function toWire (err) {
  // PGlite's WebAssembly may throw what is no Error (an exit status object, say): its description is the message.
  if (!(err instanceof Error)) return { name: 'Error', message: inspect(err, { breakLength: Infinity }), fields: {} }
  /** @type {WireError['fields']} */
  const fields = {}
  for (const [key, value] of Object.entries(err)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[key] = value
  }
  return { name: err.name, message: err.message, fields }
}

/**
 * @param {import('node:worker_threads').MessagePort} port
 * @param {WorkerOptions} options
 */
function serve (port, options) {
  /** @type {Map<number, OpenTransaction>} */
  const transactions = new Map()
  /** @param {WorkerReply} message */
  const reply = (message) => port.postMessage(message)
  /** @param {number} id @param {unknown} err */
  const fail = (id, err) => reply({ id, error: toWire(err) })
  let closing = false

  const ready = (async () => {
    await mkdir(options.dataDir, { recursive: true, mode: 0o700 })
    return PGlite.create(options.dataDir)
  })()
  ready.then(() => reply({ op: 'ready' }), (err) => {
    reply({ op: 'failed', error: toWire(err) })
    port.close()
  })

  /**
   * Rolls the transaction back unless its caller continues within `idleMs`: a caller that hangs never holds the database.
   * @param {OpenTransaction} open
   */
  const armIdle = (open) => {
    clearTimeout(open.idle)
    open.idle = setTimeout(() => open.end(false), options.idleMs)
  }

  /** @param {PGlite} database @param {number} id */
  const begin = (database, id) => {
    let opened = false
    /** @type {Promise<unknown>} */
    const finished = database.transaction(async (tx) => new Promise((resolve, reject) => {
      /** @type {OpenTransaction} */
      const open = {
        tx,
        end: (commit) => {
          clearTimeout(open.idle)
          transactions.delete(id)
          if (commit) resolve(undefined)
          else reject(ROLLBACK)
        },
        finished,
        idle: undefined,
      }
      transactions.set(id, open)
      opened = true
      armIdle(open)
      reply({ id, tx: id })
    }))
    // A failed BEGIN is this request's answer; later failures answer the commit that waits for them.
    finished.catch((err) => { if (!opened) fail(id, err) })
  }

  /** @param {Extract<WorkerRequest, { tx: number }>} request */
  const inTransaction = async (request) => {
    const open = transactions.get(request.tx)
    if (open === undefined) throw new Error(`the transaction was rolled back: nothing came from its caller for ${options.idleMs} ms, or the directory is closing`)
    clearTimeout(open.idle)
    if (request.op === 'tx-query') {
      try {
        reply({ id: request.id, rows: (await open.tx.query(request.text, [...request.params])).rows })
      } finally {
        if (transactions.has(request.tx)) armIdle(open)
      }
      return
    }
    open.end(request.op === 'commit')
    try {
      await open.finished
    } catch (err) {
      if (err !== ROLLBACK) throw err
    }
    reply({ id: request.id, done: true })
  }

  /** Rolls back what is open, closes PGlite (its files written), answers and lets the thread end. @param {number} id */
  const close = async (id) => {
    closing = true
    for (const open of [...transactions.values()]) open.end(false)
    const database = await ready.catch(() => undefined)
    if (database !== undefined && !database.closed) await database.close()
    reply({ id, done: true })
    port.close()
  }

  /** @param {WorkerRequest} request */
  const handle = async (request) => {
    if (request.op === 'close') return close(request.id)
    if (closing) throw new Error('the directory is closing')
    const database = await ready
    if (request.op === 'query') reply({ id: request.id, rows: (await database.query(request.text, [...request.params])).rows })
    else if (request.op === 'begin') begin(database, request.id)
    else await inTransaction(request)
  }

  port.on('message', (/** @type {WorkerRequest} */ request) => {
    handle(request).catch((err) => fail(request.id, err))
  })
}

if (parentPort !== null) serve(parentPort, workerData)
