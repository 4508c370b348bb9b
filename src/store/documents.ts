import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'

/** What kind of document was read back from the store (the `kind` label of the rejection metric). */
export type DocumentKind = 'discovery' | 'jwks' | 'breaker-policies' | 'incident-event'

/** Told when a document read back from the store fails its check; the reader then goes on without it. */
export type OnDocumentRejected = (rejection: { kind: DocumentKind, key: string, problem: string }) => void

/**
 * Anyone who can write to the store can plant a document, and a document
 * without expiry that crashes its reader crash-loops every pod: whatever is
 * read back is checked as it was when written, and a bad one is reported
 * (error log, `understudy_store_documents_rejected_total{kind}`) and ignored.
 */
export function reportRejectedDocuments (deps: { metrics: Metrics, log: Logger }): OnDocumentRejected {
  return ({ kind, key, problem }) => {
    deps.metrics.documentsRejected.inc({ kind })
    deps.log.error({ kind, key, problem }, 'a document read back from the store was rejected and ignored')
  }
}

/** `text` parsed as JSON and checked against `schema`, or the first problem found. */
export function parseDocument<S extends TSchema> (schema: S, text: string): { ok: true, value: Static<S> } | { ok: false, problem: string } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, problem: 'not JSON' }
  }
  const error = Value.Errors(schema, value).First()
  return error === undefined ? { ok: true, value: value as Static<S> } : { ok: false, problem: `${error.path || '/'}: ${error.message}` }
}
