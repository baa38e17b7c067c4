# The heartbeat prediction service with one model folder baked in.
#
#   docker build --build-arg MODEL=models/cnn1d -t heartbeat-serve .
#   docker run -p 8000:8000 -v heartbeat-data:/data \
#       -e HEARTBEAT_ADMIN_KEY="$(python -c "import secrets; print('hbk_' + secrets.token_urlsafe(32))")" \
#       heartbeat-serve
#
# The database is SQLite in the /data volume unless HEARTBEAT_DB names another
# (e.g. postgresql+psycopg://USER:PASSWORD@HOST:5432/heartbeat). See docs/serving.md.
FROM python:3.11-slim

# the model folder to serve, relative to the build context (models/<tag>: config.gin, model.pt, metrics.json)
ARG MODEL=models/cnn1d

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The CPU build of torch first, from PyTorch's own index: from PyPI a plain install pulls CUDA (GBs).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# Then the project with its serving extra (FastAPI, uvicorn, SQLAlchemy, python-multipart, psycopg).
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[serve]"

COPY ${MODEL} /app/model

RUN useradd --system --uid 10001 --home-dir /app heartbeat \
    && mkdir -p /data && chown heartbeat /data
USER heartbeat
VOLUME /data
ENV HEARTBEAT_DB=sqlite:////data/serve.db
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"

CMD ["python", "-m", "heartbeat.serve", "serve", "--model", "/app/model", "--host", "0.0.0.0", "--port", "8000"]
