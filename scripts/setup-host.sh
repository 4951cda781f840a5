#!/usr/bin/env bash
# Prepares this machine for Slipway's container features, idempotently:
# installs what is missing (Podman, runc, Debian's docker-registry, busybox-static, git,
# and the reverse proxies HAProxy and Caddy, which it installs without starting them),
# configures Podman for this kernel, and starts the Podman API service and a local
# registry on 127.0.0.1:5000 unless something already answers there.
#
#   scripts/setup-host.sh          install + configure + start
#   scripts/setup-host.sh browser  also install Debian's chromium, for the dashboard's browser tests
#   scripts/setup-host.sh stop     stop only what an earlier run of this script started
#
# Without root it installs nothing and says what it skipped; Slipway then uses whatever
# engine it finds, or runs steps as local processes.
set -euo pipefail

if [ "$(id -u)" = 0 ]; then STATE_DIR="${SLIPWAY_HOST_STATE:-/var/lib/slipway-host}"; else STATE_DIR="${SLIPWAY_HOST_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/slipway-host}"; fi
REGISTRY_ADDR="${SLIPWAY_REGISTRY_ADDR:-127.0.0.1:5000}"
PODMAN_SOCKET="/run/podman/podman.sock"
# catatonit is the init process containers get with Init: true (Podman's --init).
PACKAGES=(podman runc catatonit docker-registry busybox-static git curl)
# The reverse proxies for zero-downtime deploys (docs/proxy.md; bench/proxy.ts measures both).
# Slipway starts its own instances with its own configs: the packages' services (Caddy's
# listens on :80) are not started when they are installed.
PROXY_PACKAGES=(haproxy caddy)
# The browser the dashboard's tests drive through playwright-core (test/support/browser.ts).
BROWSER_PACKAGES=(chromium)

say() { printf 'setup-host: %s\n' "$*" >&2; }

is_root() { [ "$(id -u)" = 0 ]; }

stop_started() {
  for name in podman-service registry; do
    pidfile="$STATE_DIR/$name.pid"
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" && say "stopped $name (pid $pid)"
    fi
    rm -f "$pidfile"
  done
}

# The packages of "$@" that are not installed, one per line.
missing_packages() {
  local pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || printf '%s\n' "$pkg"
  done
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages "$@")
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! is_root; then
    say "not root: cannot install ${missing[*]}; container features need them"
    return 0
  fi
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${APT_OPTIONS:-} "${missing[@]}" >/dev/null
}

# Installs the proxies without starting their services: invoke-rc.d and deb-systemd-invoke
# ask policy-rc.d, so one that answers 101 is in place during the install (unless this
# machine has its own), and on systemd the units the install enabled are disabled again.
install_proxy_packages() {
  local missing
  mapfile -t missing < <(missing_packages "${PROXY_PACKAGES[@]}")
  [ ${#missing[@]} -eq 0 ] && return 0
  local policy=/usr/sbin/policy-rc.d
  if ! is_root || [ -e "$policy" ]; then
    install_packages "${missing[@]}"
  else
    printf '#!/bin/sh\n# Written by scripts/setup-host.sh for the time it installs the proxies.\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    local status=0
    install_packages "${missing[@]}" || status=$?
    rm -f "$policy"
    [ "$status" = 0 ] || return "$status"
  fi
  if is_root && [ -d /run/systemd/system ]; then
    systemctl disable --quiet "${missing[@]}" 2>/dev/null || true
  fi
}

# crun fails on this kernel's hybrid cgroups, and raising ulimits is not permitted here,
# so Podman must use runc and ask for limits within the current ones.
configure_podman() {
  is_root || return 0
  command -v podman >/dev/null || return 0
  local conf=/etc/containers/containers.conf
  if [ ! -s "$conf" ] || ! grep -vE '^\s*(#|$)' "$conf" >/dev/null; then
    mkdir -p /etc/containers
    cat > "$conf" <<'CONF'
# Written by Slipway's scripts/setup-host.sh
[containers]
default_ulimits = ["nofile=10000:10000", "nproc=4096:4096"]

[engine]
runtime = "runc"
CONF
    say "wrote $conf"
  elif ! grep -q '^\s*runtime\s*=\s*"runc"' "$conf"; then
    say "WARNING: $conf exists without runtime = \"runc\" under [engine]; containers may fail to start"
  fi
  local registries=/etc/containers/registries.conf.d/50-slipway-local.conf
  if [ ! -f "$registries" ]; then
    mkdir -p "$(dirname "$registries")"
    cat > "$registries" <<CONF
# Written by Slipway's scripts/setup-host.sh: the local registry speaks plain HTTP.
[[registry]]
location = "$REGISTRY_ADDR"
insecure = true

[[registry]]
location = "localhost:${REGISTRY_ADDR##*:}"
insecure = true
CONF
    say "wrote $registries"
  fi
}

podman_answers() { curl -sf --unix-socket "$PODMAN_SOCKET" http://d/_ping >/dev/null 2>&1; }

start_podman_service() {
  is_root || return 0
  command -v podman >/dev/null || return 0
  [ -n "${DOCKER_HOST:-}" ] && return 0
  [ -S /var/run/docker.sock ] && curl -sf --unix-socket /var/run/docker.sock http://d/_ping >/dev/null 2>&1 && return 0
  podman_answers && return 0
  mkdir -p "$STATE_DIR" "$(dirname "$PODMAN_SOCKET")"
  # From /: conmon writes its "oom" markers into the service's working folder.
  (cd / && exec nohup podman system service --time=0 "unix://$PODMAN_SOCKET") >"$STATE_DIR/podman-service.log" 2>&1 &
  echo $! > "$STATE_DIR/podman-service.pid"
  for _ in $(seq 1 100); do podman_answers && break; sleep 0.1; done
  podman_answers || { say "Podman API service did not answer; see $STATE_DIR/podman-service.log"; return 1; }
  say "started Podman API service at $PODMAN_SOCKET"
}

registry_answers() { curl -sf "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; }

start_registry() {
  command -v docker-registry >/dev/null || return 0
  registry_answers && return 0
  mkdir -p "$STATE_DIR/registry-data"
  cat > "$STATE_DIR/registry.yml" <<CONF
version: 0.1
log: { level: warn, accesslog: { disabled: true } }
storage:
  filesystem: { rootdirectory: $STATE_DIR/registry-data }
  delete: { enabled: true }
http:
  addr: $REGISTRY_ADDR
CONF
  nohup docker-registry serve "$STATE_DIR/registry.yml" >"$STATE_DIR/registry.log" 2>&1 &
  echo $! > "$STATE_DIR/registry.pid"
  for _ in $(seq 1 100); do registry_answers && break; sleep 0.1; done
  registry_answers || { say "registry did not answer at $REGISTRY_ADDR; see $STATE_DIR/registry.log"; return 1; }
  say "started registry at $REGISTRY_ADDR"
}

case "${1:-start}" in
  stop) stop_started ;;
  start|browser)
    install_packages "${PACKAGES[@]}"
    install_proxy_packages
    # The browser's recommends are a desktop's worth of services; headless needs none of them.
    if [ "${1:-start}" = browser ]; then APT_OPTIONS=--no-install-recommends install_packages "${BROWSER_PACKAGES[@]}"; fi
    configure_podman
    start_podman_service
    start_registry
    ;;
  *) say "usage: $0 [start|browser|stop]"; exit 2 ;;
esac
