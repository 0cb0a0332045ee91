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

if ! docker image inspect eventflow-ci/postgres:15 >/dev/null 2>&1; then
  docker build --quiet --tag eventflow-ci/postgres:15 - <<'DOCKERFILE'
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/*
USER postgres
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
RUN initdb --username=postgres --auth=trust -D "$PGDATA" \
 && echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf" \
 && echo "host all all 0.0.0.0/0 trust" >> "$PGDATA/pg_hba.conf"
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
