import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type { Gateway } from '../src/gateway.js'
import { Lifecycle } from '../src/lifecycle.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The core gateway: config, keys, store, clients, connectors. */
    gateway: Gateway
    /** Whether this instance is ready, or draining. */
    lifecycle: Lifecycle
  }
}

export interface GatewayPluginOptions { gateway: Gateway, lifecycle: Lifecycle }

const gatewayPlugin: FastifyPluginAsync<GatewayPluginOptions> = async (app, options) => {
  app.decorate('gateway', options.gateway)
  app.decorate('lifecycle', options.lifecycle)
}

/** Shares the core gateway and lifecycle with every route plugin. */
export default fp(gatewayPlugin, { name: 'understudy-gateway', fastify: '5.x' })
