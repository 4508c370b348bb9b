import { parse as fastQuerystring } from 'fast-querystring'
import t from 'tap'
import { parseQueryString, parseUrlQuery } from '../../plugins/querystring.js'

/** A result as plain data: fast-querystring's and ours both have no prototype. */
const plain = (value: object) => JSON.stringify(Object.entries(value))

t.test('parses pairs as fast-querystring does', async (t) => {
  const cases = [
    '', '&', '&&', 'a', 'a=', '=', '=b', 'a=b', 'a=b&a=c&a=d', 'a=b=c', 'a=%3D&b=%zz', 'a+b=c+d', 'a%2Bb=c%2Bd',
    'code=abc.def..ghi&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fcb&code_verifier=x_y-z~',
    'q=%E2%82%AC', 'q=%E2%82', 'q=%ED%A0%80', 'q=%C0%80', 'q=%F4%90%80%80', 'q=%', 'q=%2', '%=%', '&a=1&&b=2&',
    'constructor=1&__proto__=2&toString=3',
  ]
  for (const input of cases) t.equal(plain(parseQueryString(input)), plain(fastQuerystring(input)), input)
})

t.test('gives fast-querystring\'s result on random inputs', async (t) => {
  const alphabet = ['a', 'b', '=', '&', '+', '%', '2', 'B', 'e', 'E', 'F', '8', '0', 'C', 'z', '€', '%E2', '%82', '%AC', '%20', '%2b', '%3D', '%26', '%ZZ']
  let seed = 1
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed % n
  }
  let differ = 0
  for (let i = 0; i < 20_000; i++) {
    let input = ''
    for (let n = random(24); n > 0; n--) input += alphabet[random(alphabet.length)]
    if (plain(parseQueryString(input)) !== plain(fastQuerystring(input))) differ++
  }
  t.equal(differ, 0)
})

t.test('an empty URL query is a plain object, as Fastify\'s default parser gives', async (t) => {
  t.same(parseUrlQuery(''), {})
  t.equal(Object.getPrototypeOf(parseUrlQuery('')), Object.prototype)
  t.equal(Object.getPrototypeOf(Object.getPrototypeOf(parseUrlQuery('a=1'))), null)
})
