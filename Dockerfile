# One image for every service; docker-compose.yml picks the command per service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY mcp_gateway_core ./mcp_gateway_core
COPY auth_server ./auth_server
COPY gateway ./gateway
COPY local_idp ./local_idp
COPY example_servers ./example_servers
COPY devstack ./devstack
COPY doctor ./doctor
COPY scopes.yml routes.yml ./
COPY deploy ./deploy
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin mcp

USER mcp
EXPOSE 8080 8888 9000 8001 8002

# The gateway's; docker-compose.yml gives every other service its own.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2)"]

CMD ["python", "-m", "gateway", "--host", "0.0.0.0", "--port", "8080"]
