# One image for the three services; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
COPY cli ./cli
COPY migrations ./migrations
RUN pip install . && useradd --system --uid 10001 copilot
ENV COPILOT_MIGRATIONS_DIR=/app/migrations
USER copilot
