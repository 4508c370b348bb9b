# syntax=docker/dockerfile:1
# understudy gateway image. Build: docker build -t understudy .
# Run: docker run -v $PWD/understudy.yaml:/etc/understudy/config.yaml:ro \
#        -v $PWD/keys:/etc/understudy/keys:ro -p 8080:8080 -p 9090:9090 understudy
# (the config's key paths and admin.host must match: see k8s/base/config.yaml).

# Node.js 24: an LTS line, maintained until April 2028.
ARG NODE_IMAGE=node:24-bookworm-slim

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
EXPOSE 8080 9090
# No HEALTHCHECK: the admin port and host come from the config, and
# Kubernetes ignores it (the manifests probe /livez and /readyz).
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["start", "--config", "/etc/understudy/config.yaml"]
