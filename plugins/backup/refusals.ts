import type { PasskeyRefusal } from '../../src/backup/passkey-error.js'

/** What a person is told when a passkey is refused, by reason; the technical detail stays in the log. */
const SENTENCES: Record<PasskeyRefusal, string> = {
  ceremony: 'This passkey request is no longer valid. Please try again.',
  expired: 'The passkey prompt was open too long. Please try again.',
  replayed: 'This passkey request was already used. Please try again.',
  malformed: 'The browser\'s passkey answer could not be read. Please try again.',
  challenge: 'The passkey answered another request. Please try again.',
  origin: 'This passkey answer came from another website.',
  'rp-id': 'This passkey belongs to another website.',
  'user-verification': 'Your device did not check that it is you (screen lock, fingerprint or face). Please try again.',
  verification: 'The passkey could not be verified. Please try again.',
  'unknown-credential': 'This passkey is not known here (it may have been removed). Please use another way to log in.',
  counter: 'This passkey cannot be used: it may have been copied. Please use another way to log in, and remove it on your account page.',
}

/** The sentence shown for a refusal. */
export function refusalSentence (reason: PasskeyRefusal): string {
  return SENTENCES[reason]
}
