# syntax=docker/dockerfile:1
# understudy gateway image. Build: docker build -t understudy .
# Run: docker run -v $PWD/understudy.yaml:/etc/understudy/config.yaml:ro \
#        -v $PWD/keys:/etc/understudy/keys:ro -p 8080:8080 -p 9090:9090 understudy
# (the config's key paths and admin.host must match: see k8s/base/config.yaml).

# Node.js 24, an LTS line maintained until April 2028, at the exact release that
# .ci/run tests the whole suite on (.ci/node/package-lock.json). A new release
# goes into both at once: test/ci/versions.test.ts fails while they differ.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim
# The digest of NODE_IMAGE (sha256:…): with it, every stage is built from
# exactly that image whatever the tag is moved to later. Look it up and update
# it as docs/operations.md ("The image") says; while it is empty the tag alone
# picks the image.
ARG NODE_IMAGE_DIGEST=

# Compile TypeScript; the compiler and every dev dependency stay in this stage.
# Only the gateway (src/, plugins/) is compiled: tsconfig.build.json.
FROM ${NODE_IMAGE}${NODE_IMAGE_DIGEST:+@${NODE_IMAGE_DIGEST}} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY plugins ./plugins
RUN npm run build

# Production dependencies, installed here so that the runtime needs no npm.
FROM ${NODE_IMAGE}${NODE_IMAGE_DIGEST:+@${NODE_IMAGE_DIGEST}} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# The runtime: node, the production dependencies and the compiled gateway,
# owned by root and run by the unprivileged `node` user (uid 1000), so the
# process cannot change its own code.
FROM ${NODE_IMAGE}${NODE_IMAGE_DIGEST:+@${NODE_IMAGE_DIGEST}} AS runtime
# Nothing here installs or runs packages, and nothing runs a shell: the
# entrypoint is node itself (exec form) and the Kubernetes probes are httpGet.
# So npm, npx, corepack and yarn go, with the base image's shell entrypoint
# script and the shells themselves, leaving an attacker who gets code running
# in the process no package manager or shell to reach for. The shell goes last:
# this is the last RUN.
RUN rm -rf /usr/local/lib/node_modules /opt/yarn-* \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg \
      /usr/local/bin/docker-entrypoint.sh \
  && rm -f /bin/bash /bin/rbash /bin/dash /bin/sh /usr/bin/bash /usr/bin/rbash /usr/bin/dash /usr/bin/sh
WORKDIR /app
# package.json: "type": "module" for dist/, and the version the gateway reports.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
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
