#!/usr/bin/env bash
# Install the pinned gitlab-ci-local (npm) into a private prefix and print its path.
#
#   ci/gitlab/install-gitlab-ci-local.sh [PREFIX]
#
# PREFIX defaults to ${TMPDIR:-/tmp}/elb-mtls-deploy-gitlab-ci-local-<version>; nothing is
# installed globally. Exits 3 when node/npm are absent (callers skip on that code), 1 on
# any other failure. --shell-isolation needs rsync: installed from Debian's packages when
# missing and this runs as root with apt-get (otherwise a clear error).
#
# 4.73.0 is the newest release that runs on Node.js 20: 4.74.0 and later use
# Set.prototype.union (Node.js 22+) and crash on start with "kW.union is not a function".
set -euo pipefail

VERSION="${GITLAB_CI_LOCAL_VERSION:-4.73.0}"
PREFIX="${1:-${TMPDIR:-/tmp}/elb-mtls-deploy-gitlab-ci-local-${VERSION}}"
BIN="$PREFIX/node_modules/.bin/gitlab-ci-local"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node and npm are required to install gitlab-ci-local" >&2
  exit 3
fi

if ! command -v rsync >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing rsync (gitlab-ci-local --shell-isolation needs it)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q rsync >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q rsync >/dev/null; }
  else
    echo "rsync is required (gitlab-ci-local --shell-isolation); install it" >&2
    exit 1
  fi
fi

if [ ! -x "$BIN" ] || [ "$("$BIN" --version 2>/dev/null)" != "$VERSION" ]; then
  mkdir -p "$PREFIX"
  npm install --prefix "$PREFIX" --no-audit --no-fund --no-save --loglevel=error \
    "gitlab-ci-local@${VERSION}" >&2
fi

actual="$("$BIN" --version)"
if [ "$actual" != "$VERSION" ]; then
  echo "gitlab-ci-local: expected $VERSION, got: $actual" >&2
  exit 1
fi
echo "$BIN"
