# Shifa's container image: one image for every process (web, job worker, device ingestion, migrations), the command
# chooses which. Build from the checkout's root:
#     docker build -t registry.example.jo/shifa:0.1.0 .
# docs/decisions/0034-containers-and-kubernetes.md says why it is built this way; tests/deploy/test_dockerfile.py
# checks it (no engine runs where the tests run, so the image itself is not built there).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# 1. Builder: Shifa and its runtime dependencies (pinned by requirements.lock; no dev extras) into a venv.
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv && /opt/venv/bin/python -m pip install --quiet --upgrade "pip>=24"
WORKDIR /build
COPY pyproject.toml requirements.lock README.md ./
COPY src ./src
RUN /opt/venv/bin/python -m pip install --quiet -c requirements.lock .

# 2. Runtime: the venv, the Debian libraries the dependencies load at run time, and nothing to build with.
FROM ${PYTHON_IMAGE}
# WeasyPrint (PDF documents) loads Pango, HarfBuzz (with its subsetter) and Fontconfig through cffi; documents are
# set in Amiri and Noto (Arabic and Latin). Every other dependency ships its native code inside its wheel.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 libfontconfig1 \
        fonts-hosny-amiri fonts-noto-core \
    && rm -rf /var/lib/apt/lists/*
# A fixed numeric user, so that Kubernetes' runAsNonRoot can verify it and volumes can be owned by it.
RUN groupadd --system --gid 10001 shifa \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/shifa --no-create-home \
        --shell /usr/sbin/nologin shifa \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/shifa
COPY --from=builder /opt/venv /opt/venv
COPY deploy/container/probe.py /opt/shifa/probe.py
# The data folder is the only place Shifa writes (a volume; the rest of the filesystem may be read-only).
# STATIC_ROOT lies outside it, in the image: the files are collected below, once, at build time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=shifa.settings.production \
    SHIFA_DATA_DIR=/var/lib/shifa \
    STATIC_ROOT=/opt/shifa/static \
    XDG_CACHE_HOME=/tmp/cache \
    HOST=0.0.0.0 \
    PORT=8000
# Static files hashed and compressed now, with the stamp `shifa run` compares at start (shifa.cli.collect_static):
# the sources are the same files at run time, so it finds nothing to do and writes nothing. The settings are only
# loaded, never connected: the database address is a placeholder and the generated keys go to a throw-away folder.
RUN data="$(mktemp -d)" \
    && SHIFA_DATA_DIR="$data" DJANGO_SETTINGS_MODULE=shifa.settings.base \
        DATABASE_URL=postgres://build@127.0.0.1:1/build \
        python -c "from shifa import cli; cli._setup(); assert cli.collect_static(), 'nothing collected'" \
    && rm -rf "$data"
USER 10001:10001
WORKDIR /var/lib/shifa
EXPOSE 8000
# Health as the web process reports it; the request names the first of ALLOWED_HOSTS, as Django answers no other.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; host = os.environ.get('ALLOWED_HOSTS', 'localhost').split(',')[0].strip().lstrip('.'); u.urlopen(u.Request('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), headers={'Host': host}), timeout=4)"]
# Web: HTTP and WebSocket. The worker is `shifa manage procrastinate worker`, the device ingestion
# `shifa manage ingest_mqtt`, the migrations `shifa migrate` (docs/operations.md).
CMD ["shifa", "run"]
