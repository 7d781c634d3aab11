#!/usr/bin/env bash
# Entry point of a Gantry runner container: fetch the JIT config, delete it, run one job, exit.
# Never print the config (no `set -x`): it is a credential until the runner has registered.
set -euo pipefail

: "${GANTRY_JITCONFIG_PARAMETER:?Gantry did not say where the JIT config is}"
region="${GANTRY_JITCONFIG_REGION:-${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}"

config="$(aws ssm get-parameter --region "$region" --name "$GANTRY_JITCONFIG_PARAMETER" \
          --with-decryption --query Parameter.Value --output text)"
# One use only: remove it now. If this fails, Gantry's reconciler deletes it once the runner registers.
aws ssm delete-parameter --region "$region" --name "$GANTRY_JITCONFIG_PARAMETER" >/dev/null \
  || echo "gantry-runner: could not delete ${GANTRY_JITCONFIG_PARAMETER}; Gantry will" >&2
unset GANTRY_JITCONFIG_PARAMETER

echo "gantry-runner: starting ${GANTRY_RUNNER_NAME:-runner} for one job"
exec ./run.sh --jitconfig "$config"
