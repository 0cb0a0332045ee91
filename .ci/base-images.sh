#!/usr/bin/env bash
# Builds, without any image registry, the base images the pipeline's Dockerfiles and tests start
# from: a debootstrapped Debian imported as `debian:bookworm-slim`, and a PostgreSQL 15 image for
# the integration tests. A machine that can pull from Docker Hub never needs this.
set -euo pipefail

work=${CI_IMAGE_WORKDIR:-/var/tmp/eventflow-ci-images}

if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  rootfs="$work/bookworm-rootfs"
  rm -rf "$rootfs" && mkdir -p "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log"; exit 1; }
  tar -C "$rootfs" -c . | docker import - debian:bookworm-slim
  rm -rf "$rootfs"
fi

# PostgreSQL 15 that, like RDS with rds.force_ssl=1, refuses TCP connections without TLS: its
# pg_hba.conf has hostssl rules only. It has no certificate of its own: the xtask makes a CA and
# a server certificate for each run, copies them in and starts `postgres -c ssl=on -c
# ssl_cert_file=… -c hba_file=…` (xtask/containers), as it does with the official image. An
# older local build that still accepts plain connections lacks the label and is rebuilt.
tls_only=$(docker image inspect --format '{{ index .Config.Labels "eventflow.postgres.tls-only" }}' \
  eventflow-ci/postgres:15 2>/dev/null || true)
if [ "$tls_only" != "1" ]; then
  docker build --quiet --tag eventflow-ci/postgres:15 - <<'DOCKERFILE'
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/*
USER postgres
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
RUN initdb --username=postgres --auth=trust -D "$PGDATA" \
 && echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf" \
 && printf '%s\n' 'local all all trust' \
      'hostssl all all 0.0.0.0/0 trust' 'hostssl all all ::/0 trust' \
      'hostnossl all all 0.0.0.0/0 reject' 'hostnossl all all ::/0 reject' > "$PGDATA/pg_hba.conf"
LABEL eventflow.postgres.tls-only=1
EXPOSE 5432
CMD ["postgres", "-c", "fsync=off"]
DOCKERFILE
fi

# The dashboard image's base: Debian's own nginx (1.22) where a laptop pulls the official
# nginx image. Like the official image it runs nginx in the foreground and stops on SIGQUIT.
if ! docker image inspect eventflow-ci/nginx:1.22 >/dev/null 2>&1; then
  docker build --quiet --tag eventflow-ci/nginx:1.22 - <<'DOCKERFILE'
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default
STOPSIGNAL SIGQUIT
EXPOSE 80
CMD ["nginx", "-g", "daemon off;"]
DOCKERFILE
fi
