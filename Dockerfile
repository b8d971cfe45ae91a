# One image for every service; docker-compose.yml picks the command per service.
#
# BASE_IMAGE: any Debian-like image with python3 (3.11 or newer) and its venv module; the
#   official slim image by default.
# PIP_FIND_LINKS: a folder of the build context holding every wheel (./scripts/docker-wheels
#   makes .docker-wheels); given it, nothing is downloaded and `docker build --network=none`
#   works.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG PIP_FIND_LINKS=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# The gateway fetches its own upstream tokens with the agent side's client (agent/), so both
# distributions are installed.
COPY . /src
RUN python3 -m venv /opt/venv \
 && if [ -n "$PIP_FIND_LINKS" ]; then set -- --no-index --find-links "/src/$PIP_FIND_LINKS"; fi \
 && pip install --quiet "$@" /src/agent /src \
 && rm -rf /src \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin mcp \
 && mkdir -p /app /data \
 && chown mcp /data

# /data: what a service keeps (the local IdP's signing key); a volume in docker-compose.yml.
WORKDIR /app
USER 10001
EXPOSE 8080 8888 9000 9100 8001 8002 8003

# The gateway's; docker-compose.yml gives every other service its own.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/ready', timeout=2)"]

CMD ["python", "-m", "gateway", "--host", "0.0.0.0", "--port", "8080"]
