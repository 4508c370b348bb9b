# syntax=docker/dockerfile:1
# understudy gateway image. Build: docker build -t understudy .
# Run: docker run -v $PWD/understudy.yaml:/etc/understudy/config.yaml:ro \
#        -v $PWD/keys:/etc/understudy/keys:ro -p 8080:8080 -p 9090:9090 understudy
# (the config's key paths and admin.host must match: see k8s/base/config.yaml).

# Node.js 24, an LTS line maintained until April 2028, at the exact release that
# .ci/run tests the whole suite on (.ci/node/package-lock.json). A new release
# goes into both at once: test/ci/versions.test.ts fails while they differ.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# Compile TypeScript; the compiler and every dev dependency stay in this stage.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY plugins ./plugins
RUN npm run build

# The runtime: production dependencies and the compiled code, owned by root
# and run by the unprivileged `node` user (uid 1000), so the process cannot
# change its own code.
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
# The V8 heap as measured under load (bench/README.md, "RSS"): the old space
# capped below the pod's 256Mi limit, so that garbage collection, not the OOM
# killer, bounds it, and young-generation semi-spaces of 4 MB instead of 16,
# which took the peak RSS from about 180-290 MB to about 110 with no CPU cost
# the benchmark could see. k8s/base/deployment.yaml and `npm start` pass the
# same flags (test/k8s/dockerfile.test.ts checks that they agree).
ENV NODE_OPTIONS="--max-old-space-size=160 --max-semi-space-size=4"
EXPOSE 8080 9090
# No HEALTHCHECK: the admin port and host come from the config, and
# Kubernetes ignores it (the manifests probe /livez and /readyz).
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["start", "--config", "/etc/understudy/config.yaml"]
