#!/usr/bin/env bash
# `make up` / `make down`: run `pulumi up` (or destroy) for one stack on the
# project's local backend (scripts/local-backend.sh).
set -euo pipefail

stack="${1:-dev}"
action="${2:-}"
cd "$(dirname "$0")/.."
if [ "$action" = "--destroy" ]; then caller="make down"; else caller="make up"; fi
# shellcheck source=scripts/local-backend.sh
. scripts/local-backend.sh

require_pulumi
# The stack file says where it runs: a Docker host (dev) or a cluster (staging, prod).
target=docker
if [ -f "Pulumi.$stack.yaml" ]; then
  while IFS= read -r line; do
    case "$line" in "gateway-observability:target:"*kubernetes* | *" gateway-observability:target:"*kubernetes*) target=kubernetes ;; esac
  done < "Pulumi.$stack.yaml"
fi
if [ "$target" = kubernetes ]; then
  # Pulumi's Kubernetes provider reads the kubeconfig itself (context: kubernetes.context, else the current one).
  kubeconfig="${KUBECONFIG:-$HOME/.kube/config}"
  [ -f "${kubeconfig%%:*}" ] \
    || fail_offline "no kubeconfig at ${kubeconfig%%:*}; set KUBECONFIG to the cluster's kubeconfig and run $caller ENV=$stack again."
else
  command -v docker >/dev/null 2>&1 \
    || fail_offline "Docker is not installed; install Docker Engine or Docker Desktop and run $caller again."
  docker info >/dev/null 2>&1 \
    || fail_offline "no Docker engine answers ('docker info' failed); start Docker and run $caller again."
fi

use_local_backend
select_stack "$stack"
if [ "$action" = "--destroy" ]; then
  exec pulumi destroy --stack "$stack"
fi
exec pulumi up --stack "$stack"
