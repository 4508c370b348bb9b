import { PassThrough } from 'node:stream'
import t from 'tap'
import { configJsonSchema, configSchemaCommand } from '../../src/cli/config-schema.js'
import { ConfigSchema } from '../../src/config/schema.js'

/** The draft-07 keywords TypeBox emits for this schema; anything else would be an unknown keyword to a validator. */
const KEYWORDS = new Set([
  '$schema', '$id', 'title', 'description', 'default', 'type', 'properties', 'required', 'additionalProperties',
  'patternProperties', 'items', 'minItems', 'anyOf', 'const', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum',
  'uniqueItems', 'exclusiveMinimum', 'exclusiveMaximum', 'maxItems', 'minProperties', 'enum',
])
/** Maps from a name to a schema, whose keys are property names rather than keywords. */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties'])

/** Every schema object in `schema`, with its JSON pointer. */
function * schemas (schema: Record<string, unknown>, at = ''): Generator<[string, Record<string, unknown>]> {
  yield [at, schema]
  for (const [key, value] of Object.entries(schema)) {
    if (SCHEMA_MAPS.has(key)) {
      for (const [name, sub] of Object.entries(value as object)) yield * schemas(sub, `${at}/${key}/${name}`)
    } else if (key === 'anyOf') {
      for (const [i, sub] of (value as object[]).entries()) yield * schemas(sub as Record<string, unknown>, `${at}/anyOf/${i}`)
    } else if ((key === 'items' || key === 'additionalProperties') && typeof value === 'object') {
      yield * schemas(value as Record<string, unknown>, `${at}/${key}`)
    }
  }
}

t.test('config-schema prints the schema as JSON and answers 0', async (t) => {
  const out = new PassThrough()
  t.equal(configSchemaCommand(out), 0)
  const printed = String(out.read())
  t.ok(printed.endsWith('}\n'))
  t.same(JSON.parse(printed), configJsonSchema())
})

t.test('the schema is draft-07 JSON Schema with only standard keywords', async (t) => {
  const schema = configJsonSchema()
  t.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#')
  t.equal(schema.$id, ConfigSchema.$id)
  t.equal(schema.type, 'object')
  for (const [at, node] of schemas(schema)) {
    for (const key of Object.keys(node)) t.ok(KEYWORDS.has(key), `${at || '/'}: ${key} is a JSON Schema keyword`)
    t.equal(Object.getOwnPropertySymbols(node).length, 0, `${at || '/'} carries no TypeBox symbols`)
  }
  t.match(schema, { properties: { providers: { items: { properties: { kind: { anyOf: [{ const: 'oidc' }, { const: 'oauth2' }] } } } } } })
})

t.test('what the loader fills with a default is not required in the schema', async (t) => {
  const schema = configJsonSchema()
  t.same(schema.required, ['issuer', 'keys', 'providers', 'clients'])
  for (const [at, node] of schemas(schema)) {
    const properties = (node.properties ?? {}) as Record<string, { default?: unknown }>
    for (const name of (node.required ?? []) as string[]) {
      t.equal(properties[name]?.default, undefined, `${at}/properties/${name} has no default but is required`)
    }
  }
  t.notOk('required' in (schema.properties as any).listen, 'listen: {} is valid')
  t.same((schema.properties as any).store.required, undefined, 'store.kind defaults to memory')
})
