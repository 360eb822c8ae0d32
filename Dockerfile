# syntax=docker/dockerfile:1
#
# Kong with the legacy-auth external plugin (go-pdk embedded plugin server).
#
#   docker build -t kong-legacy-auth --build-arg VERSION=$(git describe --tags --always) .
#
# Stage 1 builds a static legacy-auth; stage 2 is the official Kong image with
# the binary in /usr/local/bin and the plugin server registered through
# KONG_* environment variables (the same settings as kong/kong.conf).

ARG GO_VERSION=1.26
ARG KONG_VERSION=3.9

# ---------------------------------------------------------------------------
# Stage 1: build. Runs on the build machine's platform and cross-compiles for
# the target one (the kong image is published for amd64 and arm64).
# ---------------------------------------------------------------------------
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src

# Modules in their own layer: it is rebuilt only when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download

COPY . .

# Declared after the module layer so a new VERSION does not invalidate it.
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/legacy-auth/legacy-auth/plugin.Version=${VERSION}" \
      -o /out/legacy-auth ./cmd/legacy-auth

# ---------------------------------------------------------------------------
# Stage 2: the official Kong image.
# ---------------------------------------------------------------------------
FROM kong:${KONG_VERSION}

# The file name matters: go-pdk (server/os.go) names the plugin and its socket
# after the executable's base name, so it must stay "legacy-auth". Copied as
# root-owned and world-executable; COPY needs no USER root, so the image never
# leaves Kong's non-root user.
COPY --from=build /out/legacy-auth /usr/local/bin/legacy-auth

# Plugin server registration. Why these values (Kong source, kong/kong repo):
#
# * Property names — kong/conf_loader/init.lua, "parse and validate
#   pluginserver directives": for each entry of pluginserver_names,
#     env_prefix = "pluginserver_" .. name:gsub("-", "_")
#   and it reads conf[env_prefix .. "_socket" | "_start_cmd" | "_query_cmd"].
#   So "legacy-auth" -> pluginserver_legacy_auth_*. Any property can be given
#   as KONG_<PROPERTY IN UPPER CASE>; pluginserver_* keys are dynamic keys
#   (kong/conf_loader/constants.lua DYNAMIC_KEY_NAMESPACES, prefix
#   "pluginserver_"), which load() also picks up from KONG_* environment
#   variables (kong/conf_loader/init.lua, "get env vars prefixed with
#   KONG_<dyn_key_prefix>").
#
# * Socket — same function: when _socket is unset Kong uses
#     conf.prefix .. "/" .. name .. ".socket"
#   i.e. /usr/local/kong/legacy-auth.socket with the image's prefix
#   (kong/templates/kong_defaults.lua "prefix = /usr/local/kong/"; the
#   image's docker-entrypoint.sh runs with PREFIX=${KONG_PREFIX:=/usr/local/kong}).
#   go-pdk listens on <-kong-prefix>/<executable name>.socket, -kong-prefix
#   defaulting to /usr/local/kong (go-pdk server/os.go). We set both sides
#   explicitly so they cannot drift apart even if KONG_PREFIX is changed.
#
# * Start command — when _start_cmd is unset Kong falls back to
#   DEFAULT_PLUGINSERVER_PATH .. "/" .. name (constants.lua:
#   "/usr/local/bin") with NO arguments: Kong 3.x does not add -kong-prefix
#   (only the go-pluginserver of Kong 2.x did; removed in Kong/kong#8552).
#   Kong runs it as "exec " .. start_command through a shell
#   (kong/runloop/plugin_servers/process.lua, pluginserver_timer), so
#   arguments are allowed; -kong-prefix pins the socket to the path above.
#
# * Plugin settings are flags of the start command, not environment
#   variables: process.lua spawns the server from an nginx worker, and nginx
#   clears a worker's environment except the variables its `env` directives
#   name, so LEGACY_AUTH_* set here (ENV) would never reach the plugin.
#   Flags: -log-level debug|info|warn|error, -metrics-addr HOST:PORT
#   (Prometheus /metrics; off by default). To set them at run time, override
#   the whole command: docker run -e KONG_PLUGINSERVER_LEGACY_AUTH_START_CMD=
#   "/usr/local/bin/legacy-auth -kong-prefix /usr/local/kong -log-level info
#   -metrics-addr 127.0.0.1:9542" ... (Kong reads KONG_* itself, before
#   nginx starts). An environment variable reaches the plugin only when an
#   nginx `env` directive names it, e.g. KONG_NGINX_MAIN_ENV=LEGACY_AUTH_LOG_LEVEL
#   (Kong's directive injection writes `env LEGACY_AUTH_LOG_LEVEL;`).
#
# * Query command — when unset Kong uses default_path .. " -dump"; process.lua
#   (query_external_plugin_info) io.popen()s it and reads Protocol and
#   Plugins[1] from the JSON. query_cmd is the one mandatory setting
#   ("query_command undefined for pluginserver ...").
ENV KONG_PLUGINS=bundled,legacy-auth \
    KONG_PLUGINSERVER_NAMES=legacy-auth \
    KONG_PLUGINSERVER_LEGACY_AUTH_SOCKET=/usr/local/kong/legacy-auth.socket \
    KONG_PLUGINSERVER_LEGACY_AUTH_START_CMD="/usr/local/bin/legacy-auth -kong-prefix /usr/local/kong -log-level info" \
    KONG_PLUGINSERVER_LEGACY_AUTH_QUERY_CMD="/usr/local/bin/legacy-auth -dump"

# Fail the build, not Kong's start, if the binary cannot run here.
RUN /usr/local/bin/legacy-auth -version \
 && /usr/local/bin/legacy-auth -dump > /dev/null

# The kong image already ends with USER kong; restated so that an edit above
# that switches to root cannot leak into the runtime image.
USER kong
