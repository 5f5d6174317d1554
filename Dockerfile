# syntax=docker/dockerfile:1
#
# todo-api container image.
#   builder: uv installs the locked runtime dependencies and the project itself
#            (non-editable) into /opt/venv.
#   runtime: python slim + that venv + alembic.ini + migrations/, non-root (uid 10001).
#
# Build:  docker build -t todo-api .
# Run:    docker run -p 8000:8000 -e SECRET_KEY=... -v todo-data:/data todo-api

# uv is taken from its official image; keep this version in step with the uv
# that writes uv.lock.
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

# ---------------------------------------------------------------------------
FROM python:3.11-slim-trixie AS builder

COPY --from=uv /uv /usr/local/bin/uv

# - compile bytecode now: the runtime root filesystem is read-only
# - copy (not hardlink) out of the cache mount
# - use the image's interpreter, never download one
# - put the environment at a fixed path that the runtime stage reuses as-is
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/venv

WORKDIR /build

# Dependencies first (cached layer that only changes with uv.lock/pyproject.toml).
# Absolute mount targets: BuildKit resolves a relative one against WORKDIR, but
# Buildah/Podman (.ci/image-smoke builds with Podman) refuses it.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=/build/uv.lock \
    --mount=type=bind,source=pyproject.toml,target=/build/pyproject.toml \
    uv sync --locked --no-dev --no-editable --no-install-project

# Then the project itself, installed as a regular (non-editable) package.
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

# ---------------------------------------------------------------------------
FROM python:3.11-slim-trixie AS runtime

ARG APP_UID=10001
ARG APP_GID=10001

RUN groupadd --system --gid "${APP_GID}" app \
 && useradd --system --no-log-init --uid "${APP_UID}" --gid app \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin app \
 && mkdir -p /data \
 && chown app:app /data

WORKDIR /app

# Only what runs: the virtualenv (owned by root, read-only for the app user),
# the Alembic configuration and the migration scripts.
COPY --from=builder /opt/venv /opt/venv
COPY alembic.ini ./
COPY migrations ./migrations

ENV PATH="/opt/venv/bin:${PATH}" \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ALEMBIC_CONFIG=/app/alembic.ini \
    ENVIRONMENT=production \
    LOG_FORMAT=json \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=1 \
    AUTO_MIGRATE=true \
    DATABASE_URL=sqlite+aiosqlite:////data/todo.db

USER ${APP_UID}:${APP_GID}

EXPOSE 8000

# Liveness only (no database): python is the only HTTP client in a slim image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/health/live', timeout=3)"]

# Exec form: todo-api (and so uvicorn) is PID 1 and receives SIGTERM itself.
STOPSIGNAL SIGTERM
CMD ["todo-api"]
