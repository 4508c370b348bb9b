export * from '../../harness/software-authenticator.js'
