# usagebot: `python -m bot serve` in a small image (see README, "Deployment").
#   docker build -t usagebot .
#   docker run --env-file usagebot.env -p 3000:3000 -v usagebot-data:/data usagebot
FROM python:3.11-slim

# No .pyc files in the image, logs straight out, no pip cache or version check in the layers.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# glibc gives a thread that finds the main malloc arena busy an arena of its own (up to 8 per
# core), and arenas rarely shrink. The bot bounds its threads (README, "Threads and memory"), so
# arenas are few already; this caps them also for threads a library starts, for little lock
# contention in a process whose threads mostly wait on the network.
ENV MALLOC_ARENA_MAX=2

WORKDIR /app

# Dependencies in a layer of their own: rebuilt only when requirements.txt changes, not on every
# change to the code. Every pinned package has a manylinux wheel, so no compiler is needed.
COPY requirements.txt .
RUN pip install -r requirements.txt

# A user of its own; /data is where the default SQLite file goes (XDG_DATA_HOME, read by
# platformdirs), owned by that user so that a named volume mounted there is writable.
RUN useradd --create-home --uid 10001 usagebot \
    && mkdir /data \
    && chown usagebot:usagebot /data
ENV XDG_DATA_HOME=/data

# The code last. The templates and the Slack app manifest are read at run time from beside the
# package (`python -m bot manifest` prints the latter).
COPY bot/ bot/
COPY templates/ templates/
COPY manifest.json .

USER usagebot

ENV PORT=3000
EXPOSE 3000

# /healthz answers 503 when the database has not taken this process's heartbeat lately. The slim
# image has no curl: Python's own urllib asks, and fails on anything but a 2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"

# Exec form: the bot is PID 1 and gets SIGTERM itself (it stops on it; bot/server.py).
CMD ["python", "-m", "bot", "serve"]
