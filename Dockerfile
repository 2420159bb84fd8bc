# Mediaferry container image: `mediaferry run` (workers, and the bot and web page when
# configured) as a non-root user, everything it keeps in the /data volume, configured
# by MEDIAFERRY_* environment variables only. README.md, "In a container".
#
#   podman build --format docker -t mediaferry .        (or: docker build -t mediaferry .)
#   --build-arg BASE_IMAGE=<image>  another Debian bookworm base (a local import, a mirror)
#   --build-arg WITH_CHROMIUM=0     leave out Chromium (the browser source then fails
#                                   with a clear error): a much smaller image
#   --secret id=ca,src=<CA bundle>  a CA bundle pip must trust (a TLS-inspecting proxy);
#   --secret id=pipconf,src=<file>  a pip.conf (e.g. a package index mirror). Secrets
#                                   are seen by that one step only, never kept in a layer.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

ARG WITH_CHROMIUM=1
ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The tools Mediaferry drives, from Debian; postgresql-client for `db backup` on
# PostgreSQL. Size: no docs, man pages or translations (as in Debian's slim images), no
# apt caches, and no Mesa GPU drivers with the LLVM they pull in (~165 MB; ffmpeg only
# reaches them through SDL/OpenGL for display, Chromium brings its own software GL).
# `ldd` proves every binary still finds its libraries.
RUN printf '%s\n' \
        'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
        'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' \
        'path-exclude=/usr/share/locale/*' 'path-include=/usr/share/locale/locale.alias' \
        >/etc/dpkg/dpkg.cfg.d/mediaferry-slim \
    && apt-get update -o Acquire::Retries=3 \
    && apt-get install -y --no-install-recommends -o Acquire::Retries=3 \
        ca-certificates python3 python3-venv ffmpeg aria2 postgresql-client \
        $(if [ "$WITH_CHROMIUM" = 1 ]; then echo chromium; fi) \
    && gpu=$(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'libgl1-mesa-dri' \
        'libllvm*' 'libz3-*' 'mesa-vulkan-drivers' 2>/dev/null | awk '$1 == "ii" {print $2}') \
    && if [ -n "$gpu" ]; then dpkg --purge --force-depends $gpu; fi \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
        /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log \
    && bins="/usr/bin/ffmpeg /usr/bin/ffprobe /usr/bin/aria2c" \
    && if [ "$WITH_CHROMIUM" = 1 ]; then bins="$bins /usr/lib/chromium/chromium"; fi \
    && ! ldd $bins | grep 'not found'

# the project and its Python dependencies (whatever pyproject.toml lists) in a venv
COPY pyproject.toml README.md /tmp/mediaferry-src/
COPY src /tmp/mediaferry-src/src
RUN --mount=type=secret,id=ca,required=false \
    --mount=type=secret,id=pipconf,required=false \
    set -eu; \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    if [ -s /run/secrets/pipconf ]; then export PIP_CONFIG_FILE=/run/secrets/pipconf; fi; \
    python3 -m venv /opt/mediaferry; \
    /opt/mediaferry/bin/pip install -q /tmp/mediaferry-src; \
    rm -rf /tmp/mediaferry-src; \
    /opt/mediaferry/bin/mediaferry version

RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin mediaferry \
    && install -d -o mediaferry -g mediaferry -m 0750 /data

# Inside the container the web server listens on every interface so a published port
# reaches it; without MEDIAFERRY_API_KEY only loopback clients (inside the container)
# are served, so set a key to use the API or page from outside.
ENV PATH=/opt/mediaferry/bin:$PATH \
    HOME=/data \
    MEDIAFERRY_DATA_DIR=/data \
    MEDIAFERRY_WEB_HOST=0.0.0.0 \
    MEDIAFERRY_WEB_PORT=8080 \
    MEDIAFERRY_CHROMIUM_PATH=/usr/bin/chromium

USER mediaferry
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

# /health needs no key: 200 when the database, disk, a worker and aria2c are fine
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('MEDIAFERRY_WEB_PORT', '8080'), timeout=8)"]

STOPSIGNAL SIGTERM
CMD ["mediaferry", "run"]
