FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY collector ./collector
COPY query ./query
COPY web ./web
# gcc builds the native trace decoder (collector/fastspans.c), then goes again.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-cache-dir . \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
VOLUME /data
EXPOSE 4318 4317
# 0.0.0.0 inside the container; docker-compose.yml publishes the ports on the host's loopback.
ENV SPYGLASS_HOST=0.0.0.0 SPYGLASS_DB=/data/spyglass.duckdb
CMD ["spyglass", "serve"]
