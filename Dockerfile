# One image for every Python process of the exchange; compose.yaml picks the command.
FROM python:3.12-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN uv sync --frozen --no-dev
# A container is a deployment: well-known secrets are refused (common/deployment.py).
ENV PATH=/opt/venv/bin:$PATH EXCHANGE_HOST=0.0.0.0 EXCHANGE_ENV=production
CMD ["python", "-m", "command_api"]
