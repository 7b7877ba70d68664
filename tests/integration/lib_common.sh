# Shell helpers shared by the integration test libraries (tests/integration/*/lib.sh source
# this file). Only functions: no traps, no state.

# within SECONDS CMD...: retries CMD (quietly) until it succeeds or the time is up; returns 1
# when it never succeeded.
within() {
  local limit=$1; shift
  local end=$(( $(date +%s%N) + limit * 1000000000 ))
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    [ "$(date +%s%N)" -gt "$end" ] && return 1
    sleep 0.05
  done
}
