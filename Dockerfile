# One labornet service's image. The build context is the repository root:
#   docker build --build-arg SERVICE=intake -t labornet-intake .
# SERVICE is one of intake, routing, registry, notify (a stage below each).
ARG SERVICE

FROM python:3.11-slim AS base
ARG SERVICE

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The shared library and the service, installed as regular (non-editable)
# distributions; the sources are not kept. nameko 2 imports pkg_resources,
# which setuptools 81 removed.
WORKDIR /src
COPY shared/ ./shared/
COPY services/${SERVICE}/ ./services/${SERVICE}/
RUN pip install --no-cache-dir "setuptools<81" ./shared ./services/${SERVICE} \
    && rm -rf /src

RUN groupadd --system --gid 10001 labornet \
    && useradd --system --uid 10001 --gid labornet --home-dir /app \
        --no-create-home --shell /usr/sbin/nologin labornet

# Config and migrations live in /app, read-only to the service user; var/ is
# where the SQLite default would go when no LABORNET_<SERVICE>_DB is given.
WORKDIR /app
COPY services/${SERVICE}/config.yml /app/config.yml
COPY services/${SERVICE}/alembic.ini /app/alembic.ini
COPY services/${SERVICE}/alembic/ /app/alembic/
RUN mkdir -p /app/var && chown labornet:labornet /app/var

USER 10001:10001

ENV SERVICE=${SERVICE}

# Each service's port, and its variable that makes it listen on every
# interface (config.yml listens on 127.0.0.1 by default).
FROM base AS intake
ENV LABORNET_INTAKE_HOST=0.0.0.0
ENV SERVICE_PORT=8001
EXPOSE 8001

FROM base AS routing
ENV LABORNET_ROUTING_HOST=0.0.0.0
ENV SERVICE_PORT=8002
EXPOSE 8002

FROM base AS registry
ENV LABORNET_REGISTRY_HOST=0.0.0.0
ENV SERVICE_PORT=8003
EXPOSE 8003

FROM base AS notify
ENV LABORNET_NOTIFY_HOST=0.0.0.0
ENV SERVICE_PORT=8004
EXPOSE 8004

# The image: SERVICE's stage. LABORNET_<SERVICE>_PORT, when set, moves the
# service and its health check together.
FROM ${SERVICE}

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=6 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://localhost:%s/readyz' % os.environ.get('LABORNET_%s_PORT' % os.environ['SERVICE'].upper(), os.environ['SERVICE_PORT']), timeout=3)"]

# Secrets given as files (LABORNET_X_FILE=/run/secrets/x, compose's and
# Kubernetes' secrets) become the settings' values, then the command takes
# this process's place: PID 1, it receives the stop signal itself. -P: /app,
# the working directory, holds an alembic/ that is not the package.
ENTRYPOINT ["python", "-P", "-m", "labornet_shared.secret_files"]

CMD ["sh", "-c", "labornet migrate \"$SERVICE\" && exec nameko run --config /app/config.yml \"labornet_$SERVICE.service\""]
