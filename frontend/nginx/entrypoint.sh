#!/bin/sh
# Writes the dashboard's run-time configuration, then runs nginx in the foreground.
#
# EVENTFLOW_API_BASE_URL: where the dashboard finds the API, e.g. https://api.example.com.
# Unset or empty: the API is on the dashboard's own origin (the production load balancer).
set -eu

config=/run/eventflow/config.js
url="${EVENTFLOW_API_BASE_URL:-}"
case "$url" in
  "") ;;
  http://* | https://*)
    # Only characters that need no escaping inside a JavaScript string.
    if printf '%s' "$url" | grep -q '[^A-Za-z0-9._~:/?#@!$&()*+,;=%-]'; then
      echo "EVENTFLOW_API_BASE_URL contains characters a URL should not: $url" >&2
      exit 64
    fi
    ;;
  *)
    echo "EVENTFLOW_API_BASE_URL must start with http:// or https://, got: $url" >&2
    exit 64
    ;;
esac
printf '%s\n' \
  '// EventFlow dashboard run-time configuration, written at container start-up.' \
  "window.EVENTFLOW_CONFIG = { apiBaseUrl: \"$url\" };" >"$config"

exec "$@"
