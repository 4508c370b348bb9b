import { renderConfigReference } from '../config/reference.js'
import { ConfigSchema } from '../config/schema.js'

const DRAFT = 'http://json-schema.org/draft-07/schema#'

/**
 * `understudy config-schema`: prints the config's JSON Schema (draft-07), for
 * editors and CI. A property the loader fills with a default is not required
 * in the file, so it is dropped from `required` here.
 */
export function configSchemaCommand (out: NodeJS.WritableStream, args: string[] = []): number {
  out.write(args.includes('--markdown') ? renderConfigReference(configJsonSchema()) : `${JSON.stringify(configJsonSchema(), null, 2)}\n`)
  return 0
}

/** The config's JSON Schema as plain JSON: TypeBox's symbol-keyed metadata stripped, defaults made optional. */
export function configJsonSchema (): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(ConfigSchema)) as Record<string, unknown>
  return { $schema: DRAFT, ...relaxDefaults(plain) as Record<string, unknown> }
}

function relaxDefaults (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(relaxDefaults)
  if (node === null || typeof node !== 'object') return node
  const schema = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, relaxDefaults(value)]))
  const properties = schema.properties as Record<string, { default?: unknown }> | undefined
  if (Array.isArray(schema.required) && properties) {
    const required = (schema.required as string[]).filter((name) => properties[name]?.default === undefined)
    if (required.length > 0) schema.required = required
    else delete schema.required
  }
  return schema
}
