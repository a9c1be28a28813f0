#!/usr/bin/env bash
# `make image`: build localhost/brm:latest with podman, offline, from Debian packages.
#   1. a base root file system from Debian packages (mmdebstrap; cached in build/image/)
#   2. the production virtualenv (no dev packages) and the frontend, built here on the host
#   3. podman build --pull=never --network=none with Containerfile
# Needs root, podman, runc and mmdebstrap (`make image` installs them from Debian when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
W=${BRM_IMAGE_WORK:-$ROOT/build/image}
TAG=${BRM_IMAGE:-localhost/brm:latest}
mkdir -p "$W"
source deploy/podman-env.sh

if ! $P image exists localhost/brm-base:bookworm; then
  if [ ! -s "$W/rootfs.tar" ]; then
    echo "# base: mmdebstrap (Debian packages, ~90 s)"
    mmdebstrap --mode=root --variant=minbase \
      --include=python3,python3-venv,ca-certificates,postgresql-client \
      --format=tar bookworm "$W/rootfs.part.tar"
    mv "$W/rootfs.part.tar" "$W/rootfs.tar"
  fi
  $P import --change 'CMD ["/bin/bash"]' "$W/rootfs.tar" localhost/brm-base:bookworm
fi

CTX=$W/context
rm -rf "$CTX" && mkdir -p "$CTX/app"
cp -r brm_app alembic alembic.ini rxconfig.py assets pyproject.toml "$CTX/app/"
find "$CTX/app" -name __pycache__ -prune -exec rm -rf {} +
cp Containerfile "$CTX/"

echo "# virtualenv: the app's pinned packages, no dev tools"
VENV=$W/venv
if [ ! -f "$VENV/.deps" ] || ! cmp -s pyproject.toml "$VENV/.deps"; then
  rm -rf "$VENV"
  /usr/bin/python3 -m venv "$VENV"
  deps=$("$VENV/bin/python3" -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))")
  "$VENV/bin/pip" install --quiet $deps
  cp pyproject.toml "$VENV/.deps"
fi
cp -a "$VENV" "$CTX/app/.venv"
rm -f "$CTX/app/.venv/.deps"

echo "# frontend: built for port 8080 (the image's BRM_PORT)"
WEB=$W/web
BRM_PORT=8080 BRM_DATA_DIR="$W/build-data" BRM_DATABASE_URL="sqlite:///$W/build-data/brm.db" \
  REFLEX_WEB_WORKDIR="$WEB" PATH="$ROOT/.tools/node_modules/.bin:$PATH" \
  REFLEX_USE_SYSTEM_BUN=1 REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=false \
  REFLEX_DIR="$ROOT/.tools/reflex" BUN_INSTALL_CACHE_DIR="$ROOT/.tools/bun-cache" \
  .venv/bin/reflex export --frontend-only --no-zip --env prod --loglevel warning
mkdir -p "$CTX/app/.web"
# Only what the server reads: the built pages and the manifests next to them.
(cd "$WEB" && tar --exclude=./node_modules --exclude=./.react-router -cf - .) | tar -xf - -C "$CTX/app/.web"

echo "# podman build"
$P build --format docker --pull=never --network=none -t "$TAG" -f "$CTX/Containerfile" "$CTX"
$P image ls "$TAG"
