# Gantry image: the same image runs the web server, the worker and the release (migration) step.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FLASK_APP=wsgi.py ENVIRONMENT=production PORT=8000
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY webapp ./webapp
COPY tasks ./tasks
COPY migrations ./migrations
COPY templates ./templates
COPY wsgi.py worker.py Procfile ./

RUN useradd --create-home --uid 10001 gantry && mkdir -p instance && chown gantry instance
USER gantry
EXPOSE 8000
CMD ["sh", "-c", "gunicorn wsgi:app --bind 0.0.0.0:${PORT} --workers ${WEB_CONCURRENCY:-2} --threads ${WEB_THREADS:-8} --access-logfile -"]
