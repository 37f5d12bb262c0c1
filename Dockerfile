# The vlforge Airflow image: Airflow 3.3.2 with vlforge's pinned requirements and the Debian packages its
# stages call. docker-compose.yaml runs every component from it; dags/, include/ and plugins/ are mounted.
FROM apache/airflow:3.3.2-python3.11
USER root
# The Makefile's DEBIAN_PACKAGES: Tesseract (English, Simplified Chinese) for OCR pre-annotation and
# read-back; Chromium, Noto CJK and DejaVu fonts, fontconfig and poppler for synthetic documents,
# screens and PDF pages.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim \
      chromium fonts-noto-cjk fonts-dejavu-core poppler-utils fontconfig \
 && rm -rf /var/lib/apt/lists/*
USER airflow
COPY requirements.txt /requirements.txt
# torch first, from the CPU index: the default wheel pulls several GB of CUDA libraries.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -r /requirements.txt
ENV PYTHONPATH=/opt/airflow/include \
    VLFORGE_HOME=/opt/vlforge/data \
    HF_HUB_OFFLINE=1 \
    NO_ALBUMENTATIONS_UPDATE=1 \
    GX_ANALYTICS_ENABLED=False
