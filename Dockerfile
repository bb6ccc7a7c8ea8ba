# The headless engine, `omc-engine`, as the image the terraform/ ECS service runs.
#
#   docker build --platform linux/amd64 -t omc-engine .
#   docker run --rm -p 8765:8765 -e OMC_SERVICE__TOKEN=… omc-engine --sim --listen 0.0.0.0:8765
#
# Settings come from OMC_… environment variables (secrets from Secrets Manager on ECS); the
# image holds none. tests/deploy/test_deploy.py checks this file against the engine's defaults.

# ---- builder: the project and its dependencies, installed into a venv that is copied whole --
FROM python:3.11.13-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Every dependency ships a manylinux wheel for CPython 3.11 (sgmllib3k is pure Python), so the
# builder needs no compiler; the build backend (setuptools) comes from pyproject.toml.
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY ledgers ./ledgers
COPY migrations ./migrations
COPY omc_tui ./omc_tui
RUN python -m venv /opt/omc \
    && /opt/omc/bin/pip install --no-cache-dir /src \
    && /opt/omc/bin/omc-engine --help > /dev/null

# ---- runtime ---------------------------------------------------------------------------------
# The same base as the builder, so the venv's interpreter path and ABI match.
FROM python:3.11.13-slim-bookworm

# A fixed numeric id, so an orchestrator can check "not root" without reading /etc/passwd.
RUN groupadd --system --gid 10001 omc \
    && useradd --system --uid 10001 --gid omc --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin omc \
    && install --directory --owner=omc --group=omc --mode=0750 /data

COPY --from=builder /opt/omc /opt/omc

# engine/paths.py finds the data directory (the generated attach token, a SQLite database when
# no PostgreSQL URL is set) with platformdirs, which follows XDG_DATA_HOME: /data/omc here.
# The config file, if one is mounted, is /etc/omc/config.toml (XDG_CONFIG_HOME).
ENV PATH=/opt/omc/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/data \
    XDG_DATA_HOME=/data \
    XDG_CONFIG_HOME=/etc \
    XDG_CACHE_HOME=/tmp/.cache

# The only writable places when the root filesystem is read-only (as on ECS). ECS fills a
# task's bind mount at a VOLUME path from the image, so /data keeps its owner there too.
VOLUME ["/data", "/tmp"]

USER 10001:10001
WORKDIR /data

EXPOSE 8765

# No curl in a slim image: the probe is the interpreter the engine already runs on; urlopen
# raises on anything but a 2xx answer, so the exit status is the verdict.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=4)"]

# SIGTERM is the engine's clean stop: it checkpoints, releases the lease and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["omc-engine"]
CMD ["--listen", "0.0.0.0:8765"]
