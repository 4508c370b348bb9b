// The parser of query strings and form bodies (application/x-www-form-urlencoded).
// Fastify and @fastify/formbody parse with fast-querystring, which reads its
// input one character at a time in JavaScript: a token request's body carries
// a code of about a kilobyte, and the two parses cost some 5 % of an SSO
// flow's instructions. This one finds the separators with String#indexOf
// (native scans) and gives the same result as fast-querystring for every
// input (test/plugins/querystring.test.ts compares them on random inputs):
// pairs split on '&', the key before the first '=', empty pairs skipped, '+'
// read as a space, percent-decoding where there is a '%' (the raw text kept
// when it does not decode), a repeated key collected into an array.

/** An object without a prototype, made as fast-querystring makes its results. */
const Empty = function (this: object) {} as unknown as new () => Record<string, string | string[]>
Empty.prototype = Object.create(null)

const PLUS = /\+/g

/** One key or value: '+' as a space, then percent-decoded when it can be; the text as it is when it cannot. */
function decodePart (part: string): string {
  if (part.indexOf('+') !== -1) part = part.replace(PLUS, ' ')
  if (part.indexOf('%') === -1) return part
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}

/** Parses a query string or form body into its parameters; a repeated key's values in order, as an array. */
export function parseQueryString (input: string): Record<string, string | string[]> {
  const result = new Empty()
  if (typeof input !== 'string') return result
  const length = input.length
  let start = 0
  while (start < length) {
    let end = input.indexOf('&', start)
    if (end === -1) end = length
    if (end > start) {
      const equals = input.indexOf('=', start)
      let key: string
      let value = ''
      if (equals !== -1 && equals < end) {
        key = decodePart(input.slice(start, equals))
        value = decodePart(input.slice(equals + 1, end))
      } else {
        key = decodePart(input.slice(start, end))
      }
      const current = result[key]
      if (current === undefined) result[key] = value
      else if (typeof current === 'string') result[key] = [current, value]
      else current.push(value)
    }
    start = end + 1
  }
  return result
}

/** Fastify's `querystringParser`: an empty query gives a plain object, as find-my-way's default does. */
export function parseUrlQuery (query: string): Record<string, string | string[]> {
  return query.length === 0 ? {} : parseQueryString(query)
}
