import t from 'tap'
import { openidClientSuite } from '../helpers/openid-client-suite.js'
import { startStack } from '../helpers/stack.js'

openidClientSuite(t, () => startStack())
