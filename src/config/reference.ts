/** Renders the config reference (docs/config-reference.md) from the config's JSON Schema, so the two never disagree. */

interface SchemaNode {
  type?: string
  description?: string
  default?: unknown
  properties?: Record<string, SchemaNode>
  required?: string[]
  items?: SchemaNode
  anyOf?: SchemaNode[]
  const?: unknown
  enum?: unknown[]
  pattern?: string
  minimum?: number
  maximum?: number
  additionalProperties?: boolean | SchemaNode
  patternProperties?: Record<string, SchemaNode>
}

const DURATION = 'A duration'

/** The Markdown reference: one row per key path, with its type, default, whether it is required, and its meaning. */
export function renderConfigReference (schema: Record<string, unknown>): string {
  const rows: string[] = []
  walk(schema as SchemaNode, '', rows)
  return [
    '# Config reference',
    '',
    '<!-- Generated from the TypeBox schema by `npm run docs:config`; a test fails when it is out of date. Do not edit by hand. -->',
    '',
    'Every key of the config file. `[]` marks an array element. Durations are numbers of seconds or strings like `500ms`, `90s`, `10m`, `8h`, `7d`; `${NAME}` in any string is replaced by the environment variable NAME. The guide with examples is [config.md](config.md).',
    '',
    '| key | type | required | default | meaning |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n')
}

function walk (node: SchemaNode, path: string, rows: string[]): void {
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    const at = path ? `${path}.${name}` : name
    const required = (node.required ?? []).includes(name) && child.default === undefined
    rows.push(`| \`${at}\` | ${typeOf(child)} | ${required ? 'yes' : ''} | ${shownDefault(child.default)} | ${cell((child.description ?? child.items?.description ?? '').replace(/^A duration: /, ''))} |`)
    const nested = child.type === 'array' ? child.items : child
    if (nested?.properties) walk(nested, child.type === 'array' ? `${at}[]` : at, rows)
    for (const option of nested?.anyOf ?? []) if (option.properties) walk(option, child.type === 'array' ? `${at}[]` : at, rows)
  }
}

/** An object's `{}` default only says that its keys take theirs, which their own rows show. */
function shownDefault (value: unknown): string {
  if (value === undefined || JSON.stringify(value) === '{}') return ''
  return `\`${JSON.stringify(value)}\``
}

function typeOf (node: SchemaNode): string {
  if (node.description?.startsWith(DURATION)) return 'duration'
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``
  if (node.anyOf) return [...new Set(node.anyOf.map(typeOf))].join(' \\| ')
  if (node.type === 'array') return `${node.items ? typeOf(node.items) : 'any'}[]`
  if (node.type === 'object' && !node.properties && node.patternProperties) return 'map of string'
  return node.type ?? 'any'
}

function cell (text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}
