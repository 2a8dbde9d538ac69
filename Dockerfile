# Image for the liftoff services of docker-compose.yml (worker, api, migrate).
FROM python:3.11-slim
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
WORKDIR /app
ENV UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1
COPY pyproject.toml uv.lock README.md ./
COPY schemas schemas
COPY workflows workflows
COPY activities activities
COPY db db
COPY api api
COPY worker worker
RUN uv sync --frozen --no-dev
ENV PATH=/app/.venv/bin:$PATH
CMD ["liftoff", "--help"]
