# syntax=docker/dockerfile:1
# Multi-stage: build wheels with the locked versions, then a slim runtime that runs as a non-root user
# and migrates the database before it starts serving.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY service ./service
COPY integrations ./integrations
COPY webhooks ./webhooks
RUN python -m venv /opt/salesmeet \
 && /opt/salesmeet/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/salesmeet/bin/pip install --no-cache-dir -c requirements.lock .

FROM python:3.11-slim AS runtime
RUN useradd --system --uid 10001 --home-dir /app --create-home salesmeet
COPY --from=build /opt/salesmeet /opt/salesmeet
COPY config /app/config
WORKDIR /app
ENV PATH="/opt/salesmeet/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    SALESMEET_LOG_FORMAT=json \
    SALESMEET_CONFIG=/app/config/salesmeet.yaml \
    SALESMEET_DATABASE_URL=sqlite:////app/data/salesmeet.db
RUN mkdir -p /app/data && chown salesmeet /app/data
USER salesmeet
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
# `db upgrade` first (safe with several replicas: PostgreSQL migrations take an advisory lock).
CMD ["sh", "-c", "salesmeet db upgrade && exec salesmeet serve --host 0.0.0.0 --port 8080"]
