#!/bin/sh
# Writes the dashboard's run-time configuration and the API origin its Content-Security-Policy
# allows, then runs nginx in the foreground.
#
# EVENTFLOW_API_BASE_URL: where the dashboard finds the API, e.g. https://api.example.com.
# Unset or empty: the API is on the dashboard's own origin (the production load balancer).
set -eu

config=/run/eventflow/config.js
origin_conf=/run/eventflow/api-origin.conf
url="${EVENTFLOW_API_BASE_URL:-}"
origin=""
case "$url" in
  "") ;;
  http://* | https://*)
    # Only characters that need no escaping inside a JavaScript string.
    if printf '%s' "$url" | grep -q '[^A-Za-z0-9._~:/?#@!$&()*+,;=%-]'; then
      echo "EVENTFLOW_API_BASE_URL contains characters a URL should not: $url" >&2
      exit 64
    fi
    # scheme://host[:port], the part CSP's connect-src names. Only host characters: the value
    # goes into nginx's configuration and a header.
    origin=$(printf '%s' "$url" | sed -E 's#^(https?://[^/?#]*).*#\1#')
    if ! printf '%s' "$origin" | grep -Eq '^https?://[A-Za-z0-9.-]+(:[0-9]+)?$'; then
      echo "EVENTFLOW_API_BASE_URL must be http(s)://host[:port][/path] with no user name, got: $url" >&2
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
printf '%s\n' \
  '# Written at container start-up from EVENTFLOW_API_BASE_URL: the API origin CSP allows.' \
  "map \$host \$eventflow_api_origin { default \"${origin:+ $origin}\"; }" >"$origin_conf"

exec "$@"
