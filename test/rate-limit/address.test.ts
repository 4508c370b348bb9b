import t from 'tap'
import { addressKey } from '../../src/rate-limit/address.js'

t.test('an IPv4 address is its own key, also when written as an IPv4-mapped IPv6 address', async (t) => {
  for (const [ip, key] of [
    ['203.0.113.7', 'ip:203.0.113.7'],
    ['127.0.0.1', 'ip:127.0.0.1'],
    ['::ffff:203.0.113.7', 'ip:203.0.113.7'],
    ['::ffff:cb00:7107', 'ip:203.0.113.7'],
    ['0:0:0:0:0:ffff:203.0.113.7', 'ip:203.0.113.7'],
  ] as const) t.equal(addressKey(ip), key, ip)
})

t.test('an IPv6 address is keyed by its /64, however it is written', async (t) => {
  for (const [ip, key] of [
    ['2001:db8:1:2:3:4:5:6', 'ip:2001:db8:1:2::/64'],
    ['2001:db8:1:2::1', 'ip:2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff:ffff:ffff:ffff', 'ip:2001:db8:1:2::/64'],
    ['2001:DB8:1:2::abcd', 'ip:2001:db8:1:2::/64'],
    ['2001:db8::1', 'ip:2001:db8:0:0::/64'],
    ['2001:db8:0:0:1::', 'ip:2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'ip:fe80:0:0:0::/64'],
    ['::1', 'ip:0:0:0:0::/64'],
    ['::', 'ip:0:0:0:0::/64'],
    ['64:ff9b::192.0.2.33', 'ip:64:ff9b:0:0::/64'],
  ] as const) t.equal(addressKey(ip), key, ip)
})

t.test('two hosts of one /64 share a key; neighbouring /64s do not', async (t) => {
  t.equal(addressKey('2001:db8:aa:bb::1'), addressKey('2001:db8:aa:bb:ffff:1:2:3'))
  t.not(addressKey('2001:db8:aa:bb::1'), addressKey('2001:db8:aa:bc::1'))
  t.not(addressKey('2001:db8:aa:bb::1'), addressKey('2001:db9:aa:bb::1'))
})

t.test('anything that is not an IPv6 address is keyed as it is', async (t) => {
  t.equal(addressKey(''), 'ip:')
  t.equal(addressKey('not-an-address'), 'ip:not-an-address')
})
