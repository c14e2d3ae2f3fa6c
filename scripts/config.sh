#!/usr/bin/env bash
# `make secret KEY=...` / `make config KEY=... VALUE=...`: set one setting of a
# stack on the project's local backend (scripts/local-backend.sh), the same
# backend and passphrase `make up` uses, creating the stack if needed.
#
# KEY and VALUE come from the environment (make exports command-line
# variables), so nothing is interpolated into a shell command. A secret never
# travels on a command line: `pulumi config set --secret KEY` with no value
# reads it from stdin when stdin is not a terminal, and otherwise prompts
# without echoing it.
set -euo pipefail

stack="${1:?usage: config.sh <stack> secret|plain}"
kind="${2:?usage: config.sh <stack> secret|plain}"
cd "$(dirname "$0")/.."
if [ "$kind" = secret ]; then caller="make secret"; else caller="make config"; fi
# shellcheck source=scripts/local-backend.sh
. scripts/local-backend.sh

key="${KEY:-}"
[ -n "$key" ] || {
  if [ "$kind" = secret ]; then
    fail "say which secret: make secret KEY=grafanaAdminPassword (or KEY=receiverSecrets.<receiver>); the value is read from stdin or a prompt"
  fi
  fail "say which setting: make config KEY=<key> VALUE=<value>, e.g. KEY=alerting.thresholds.hourlyBudgetUsd VALUE=250"
}
if [ "$kind" = plain ] && [ -z "${VALUE+set}" ]; then
  fail "say the value: make config KEY=$key VALUE=<value> (for a secret use make secret KEY=$key)"
fi

# Nested keys (receiverSecrets.<receiver>, alerting.thresholds.x) need --path.
path=""
case "$key" in *.* | *\[*) path="--path" ;; esac

require_pulumi
use_local_backend
select_stack "$stack"
if [ "$kind" = secret ]; then
  # shellcheck disable=SC2086  # $path is empty or one flag
  exec pulumi config set --stack "$stack" --secret $path -- "$key"
fi
# shellcheck disable=SC2086
exec pulumi config set --stack "$stack" $path -- "$key" "$VALUE"
