FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY collector ./collector
COPY query ./query
COPY web ./web
RUN pip install --no-cache-dir .
VOLUME /data
EXPOSE 4318 4317
# 0.0.0.0 inside the container; docker-compose.yml publishes the ports on the host's loopback.
ENV SPYGLASS_HOST=0.0.0.0 SPYGLASS_DB=/data/spyglass.duckdb
CMD ["spyglass", "serve"]
