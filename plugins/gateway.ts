import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type { Gateway } from '../src/gateway.js'
import { Lifecycle } from '../src/lifecycle.js'
import type { PublicStatus } from '../src/public-status.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The core gateway: config, keys, store, clients, connectors. */
    gateway: Gateway
    /** Whether this instance is ready, or draining. */
    lifecycle: Lifecycle
    /** Public health and status, from snapshots shared by both listeners. */
    publicStatus: PublicStatus
  }
}

export interface GatewayPluginOptions { gateway: Gateway, lifecycle: Lifecycle, publicStatus: PublicStatus }

const gatewayPlugin: FastifyPluginAsync<GatewayPluginOptions> = async (app, options) => {
  app.decorate('gateway', options.gateway)
  app.decorate('lifecycle', options.lifecycle)
  app.decorate('publicStatus', options.publicStatus)
}

/** Shares the core gateway and lifecycle with every route plugin. */
export default fp(gatewayPlugin, { name: 'understudy-gateway', fastify: '5.x' })
