#!/usr/bin/env bash
# `make up` / `make down`: run `pulumi up` (or destroy) for one stack with
# Pulumi's local file backend and a passphrase secrets provider, so no Pulumi
# Cloud account is needed. State and passphrase live in .pulumi-state/
# (git-ignored). The backend is chosen per command with PULUMI_BACKEND_URL
# rather than `pulumi login`, which would change the user's default backend
# for every other project too.
set -euo pipefail

stack="${1:-dev}"
action="${2:-}"
cd "$(dirname "$0")/.."

fail() { echo "make up: $*" >&2; exit 1; }

command -v pulumi >/dev/null 2>&1 \
  || fail "the Pulumi CLI is not installed; install it from https://www.pulumi.com/docs/iac/download-install/ and run make up again."
command -v docker >/dev/null 2>&1 \
  || fail "Docker is not installed; install Docker Engine or Docker Desktop and run make up again."
docker info >/dev/null 2>&1 \
  || fail "no Docker engine answers ('docker info' failed); start Docker and run make up again."

state_dir="${PULUMI_STATE_DIR:-$PWD/.pulumi-state}"
passphrase_file="$state_dir/passphrase"
mkdir -p "$state_dir"
if [ ! -s "$passphrase_file" ]; then
  # Created once; losing it makes the stack's secrets unreadable, so say where it is.
  (umask 077 && head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > "$passphrase_file")
  echo "make up: created the secrets passphrase in $passphrase_file (keep it; it is git-ignored)"
fi

export PULUMI_BACKEND_URL="file://$state_dir"
export PULUMI_CONFIG_PASSPHRASE_FILE="$passphrase_file"
export PULUMI_SKIP_UPDATE_CHECK=true

pulumi stack select "$stack" --create --secrets-provider passphrase
if [ "$action" = "--destroy" ]; then
  exec pulumi destroy --stack "$stack"
fi
exec pulumi up --stack "$stack"
