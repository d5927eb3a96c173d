#!/usr/bin/env bash
# Installs a built Tessera checkout (`make build`) as the systemd services tessera-server and
# tessera-agent. Run it as root, usually through `make install`.
#
# Settings, all from the environment:
#   PREFIX       /usr/local                     base of LIBDIR and BINDIR
#   LIBDIR       $PREFIX/lib/tessera            the application: dist/, bin/, proto/, addons, node_modules
#   BINDIR       $PREFIX/bin                    the tessera-agent and tessera-server commands
#   SYSCONFDIR   /etc                           example configurations go to $SYSCONFDIR/tessera
#   UNITDIR      /etc/systemd/system            the two service units
#   SYSUSERSDIR  /etc/sysusers.d                the tessera-agent and tessera-server users
#   NODE         node found on PATH             Node.js binary the commands run with
#   DESTDIR      empty                          staging root for packages: every path above is
#                                               written below it, and no user is created
#
# Existing configuration files are kept. The application folder is replaced as a whole, so
# restart the services after an upgrade.
set -euo pipefail

PREFIX=${PREFIX:-/usr/local}
LIBDIR=${LIBDIR:-$PREFIX/lib/tessera}
BINDIR=${BINDIR:-$PREFIX/bin}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-/etc/systemd/system}
SYSUSERSDIR=${SYSUSERSDIR:-/etc/sysusers.d}
DESTDIR=${DESTDIR:-}
NODE=${NODE:-$(command -v node || true)}

SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The path the units in systemd/ name; it is rewritten to BINDIR.
UNIT_BINDIR=/usr/local/bin
USERS=(tessera-server tessera-agent)

fail() {
  echo "install.sh: $*" >&2
  exit 1
}

check_prerequisites() {
  if [[ -z "$DESTDIR" && $(id -u) -ne 0 ]]; then
    fail "run as root (or set DESTDIR to stage the files for a package)"
  fi
  for path in dist/src/agent/cli/main.js dist/src/server/cli/main.js build/Release/peer_credentials.node \
    build/Release/systemd_notify.node node_modules/.package-lock.json; do
    [[ -e "$SOURCE/$path" ]] || fail "missing $SOURCE/$path: run \`make build\` first"
  done
  [[ -n "$NODE" && -x "$NODE" ]] || fail "no Node.js binary found: install Node.js 20 or set NODE"
  # The paths go unquoted into the command wrappers, the units and a sed expression.
  for path in "$LIBDIR" "$BINDIR" "$SYSCONFDIR" "$UNITDIR" "$SYSUSERSDIR" "$NODE"; do
    [[ "$path" =~ ^/[A-Za-z0-9._/+-]*$ ]] || fail "$path must be an absolute path of letters, digits and . _ / + -"
  done
}

# Prints the node_modules folders of the production dependencies, relative to the
# checkout, from package-lock.json (what `npm ci --omit=dev` would install). A nested
# folder comes with its parent, and optional packages missing here (other platforms) are
# skipped.
production_packages() {
  (cd "$SOURCE" && "$NODE" --input-type=module -e '
    import { existsSync, readFileSync } from "node:fs";
    const { packages } = JSON.parse(readFileSync("package-lock.json", "utf8"));
    for (const [path, details] of Object.entries(packages)) {
      const topLevel = /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path);
      if (topLevel && details.dev !== true && existsSync(path)) console.log(path);
    }
  ')
}

install_application() {
  local target="$DESTDIR$LIBDIR"
  local staging="$target.new.$$"

  rm -rf "$staging"
  mkdir -p "$staging/build/Release" "$staging/dist"
  cp -a "$SOURCE/package.json" "$SOURCE/package-lock.json" "$SOURCE/bin" "$SOURCE/proto" "$staging/"
  cp -a "$SOURCE/dist/src" "$SOURCE/dist/plugins" "$staging/dist/"
  cp -a "$SOURCE/build/Release/peer_credentials.node" "$SOURCE/build/Release/systemd_notify.node" "$staging/build/Release/"

  local packages
  packages=$(production_packages)
  [[ -n "$packages" ]] || fail "found no production packages in $SOURCE/package-lock.json"
  # shellcheck disable=SC2086 # one path per line, and npm package names contain no spaces
  (cd "$SOURCE" && tar -cf - $packages) | (cd "$staging" && tar -xf -)

  chmod -R u=rwX,go=rX "$staging"
  rm -rf "$target"
  mv "$staging" "$target"
  echo "Installed the application in $target"
}

install_commands() {
  mkdir -p "$DESTDIR$BINDIR"
  for command in tessera-agent tessera-server; do
    local wrapper="$DESTDIR$BINDIR/$command"
    printf '#!/bin/sh\n# %s, installed by scripts/install.sh of Tessera.\nexec %s %s "$@"\n' \
      "$command" "$NODE" "$LIBDIR/bin/$command.js" >"$wrapper.new"
    chmod 0755 "$wrapper.new"
    mv "$wrapper.new" "$wrapper"
    echo "Installed $wrapper"
  done
}

install_units() {
  mkdir -p "$DESTDIR$UNITDIR"
  for unit in tessera-agent.service tessera-server.service; do
    sed "s|^ExecStart=$UNIT_BINDIR/|ExecStart=$BINDIR/|" "$SOURCE/systemd/$unit" >"$DESTDIR$UNITDIR/$unit.new"
    chmod 0644 "$DESTDIR$UNITDIR/$unit.new"
    mv "$DESTDIR$UNITDIR/$unit.new" "$DESTDIR$UNITDIR/$unit"
    echo "Installed $DESTDIR$UNITDIR/$unit"
  done
}

create_users() {
  mkdir -p "$DESTDIR$SYSUSERSDIR"
  install -m 0644 "$SOURCE/systemd/tessera.sysusers" "$DESTDIR$SYSUSERSDIR/tessera.conf"
  if [[ -n "$DESTDIR" ]]; then
    echo "Staged $DESTDIR$SYSUSERSDIR/tessera.conf; run systemd-sysusers on the target host to create the users"
    return
  fi

  if command -v systemd-sysusers >/dev/null; then
    systemd-sysusers "$SYSUSERSDIR/tessera.conf"
  else
    for user in "${USERS[@]}"; do
      id -u "$user" >/dev/null 2>&1 ||
        useradd --system --user-group --no-create-home --home-dir / --shell /usr/sbin/nologin "$user"
    done
  fi
  for user in "${USERS[@]}"; do
    id -u "$user" >/dev/null || fail "failed to create the user $user"
  done
}

# Copies one example configuration unless the file exists. It may hold a join token, so only
# root and the service's group may read it.
install_config() {
  local name=$1 group=$2
  local target="$DESTDIR$SYSCONFDIR/tessera/$name"

  if [[ -e "$target" ]]; then
    echo "Kept the existing $target"
    return
  fi
  install -m 0640 "$SOURCE/systemd/$name" "$target"
  if [[ -z "$DESTDIR" ]]; then
    chgrp "$group" "$target"
  fi
  echo "Installed $target"
}

reload_systemd() {
  if [[ -z "$DESTDIR" && -d /run/systemd/system ]]; then
    systemctl daemon-reload
  fi
}

check_prerequisites
install_application
install_commands
create_users
mkdir -p "$DESTDIR$SYSCONFDIR/tessera"
chmod 0755 "$DESTDIR$SYSCONFDIR/tessera"
install_config server.conf tessera-server
install_config agent.conf tessera-agent
install_units
reload_systemd
echo "Next: edit $SYSCONFDIR/tessera/server.conf and agent.conf, then see docs/install.md to start the services"
