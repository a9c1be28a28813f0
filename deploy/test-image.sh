#!/usr/bin/env bash
# `make test-image`: start the image, sign in over HTTP, restart the container, check the data
# survived (the volume), remove everything it started. Prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${BRM_IMAGE:-localhost/brm:latest}
source deploy/podman-env.sh
NAME=brm-test-$$
VOL=brm-test-data-$$
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
ADMIN=admin@image.example
PASS="image admin password 1"
cleanup() {
  $P rm -f -t 5 "$NAME" >/dev/null 2>&1 || true
  $P volume rm -f "$VOL" >/dev/null 2>&1 || true
}
trap cleanup EXIT
t0=$(date +%s)
wait_up() {
  for _ in $(seq 1 180); do
    if curl -fsS "$URL/api/health" >/dev/null 2>&1 && curl -fsS "$URL/login" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "the container did not answer:"; $P logs --tail 60 "$NAME"; return 1
}
token() {
  curl -fsS "$URL/api/v1/auth/token" --data-urlencode "username=$ADMIN" --data-urlencode "password=$PASS" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
$P volume create "$VOL" >/dev/null
$P run -d --name "$NAME" -p "127.0.0.1:$PORT:8080" -v "$VOL:/data" \
  -e BRM_ADMIN_EMAIL="$ADMIN" -e BRM_ADMIN_PASSWORD="$PASS" -e BRM_DEMO=0 "$TAG" >/dev/null
wait_up
t1=$(date +%s)
echo "started and answering in $((t1 - t0)) s"
TOKEN=$(token)
USER_ID=$(curl -fsS "$URL/api/v1/users" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"email": "survivor@image.example", "role": "broker", "name": "Survives Restart", "password": "survivor password 1"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["user_id"])')
curl -fsS -o /dev/null "$URL/login"
echo "signed in over HTTP as the admin; created user $USER_ID; the sign-in page is served"
$P exec "$NAME" id -u | grep -qv '^0$' && echo "runs as a non-root user"
$P restart -t 20 "$NAME" >/dev/null
wait_up
t2=$(date +%s)
echo "restarted in $((t2 - t1)) s"
TOKEN=$(token)
curl -fsS "$URL/api/v1/users/$USER_ID" -H "Authorization: Bearer $TOKEN" | grep -q "survivor@image.example"
echo "the user survived the restart (volume $VOL); test-image ok in $(( $(date +%s) - t0 )) s"
