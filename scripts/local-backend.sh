# Sourced by scripts/up.sh (make up, make down) and scripts/config.sh (make
# secret, make config): every `pulumi` command the project runs goes to
# Pulumi's local file backend with a passphrase secrets provider, so no Pulumi
# Cloud account is needed. State and passphrase live in .pulumi-state/
# (git-ignored). The backend is chosen per command with PULUMI_BACKEND_URL
# rather than `pulumi login`, which would change the user's default backend
# for every other project too.
#
# The sourcing script sets `caller` (e.g. "make up") for its messages and runs
# from the repository root.

fail() { echo "$caller: $*" >&2; exit 1; }
# A tool `make up` needs is missing: what works without it, offline.
fail_offline() {
  echo "$caller: $*" >&2
  fail "meanwhile, without it: make plan ENV=${stack:-dev} (what pulumi up would create), make render ENV=${stack:-dev} (every generated file, in rendered/), make demo (the demo gateway on 127.0.0.1)"
}

require_pulumi() {
  command -v pulumi >/dev/null 2>&1 \
    || fail_offline "the Pulumi CLI is not installed; install it from https://www.pulumi.com/docs/iac/download-install/ and run $caller again."
}

# Exports the backend and passphrase for every later pulumi command, creating
# the passphrase on first use.
use_local_backend() {
  state_dir="${PULUMI_STATE_DIR:-$PWD/.pulumi-state}"
  passphrase_file="$state_dir/passphrase"
  mkdir -p "$state_dir"
  if [ ! -s "$passphrase_file" ]; then
    # Created once; losing it makes the stack's secrets unreadable, so say where it is.
    (umask 077 && head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > "$passphrase_file")
    echo "$caller: created the secrets passphrase in $passphrase_file (keep it; it is git-ignored)"
  fi
  export PULUMI_BACKEND_URL="file://$state_dir"
  export PULUMI_CONFIG_PASSPHRASE_FILE="$passphrase_file"
  export PULUMI_SKIP_UPDATE_CHECK=true
}

# Selects the stack, creating it with the passphrase provider the first time.
select_stack() {
  pulumi stack select "$1" --create --secrets-provider passphrase
}
