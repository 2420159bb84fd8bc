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

# Everything is installed and trimmed in the "rootfs" stage; the image is that file
# system copied into one layer (the last stage), so what a later step deletes (build
# tools, pip's setuptools, purged packages) is really gone instead of still taking room
# in an earlier layer.
FROM ${BASE_IMAGE} AS rootfs

ARG WITH_CHROMIUM=1
ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The tools Mediaferry drives, from Debian; postgresql-client for `db backup` on
# PostgreSQL; binutils only to strip the venv below (purged again).
# - Chromium: Debian's chromium-headless-shell, the headless-only build of the same
#   Chromium (Playwright's own choice for headless pages). The browser source always
#   runs Chromium headless, and a container has no display, so the desktop browser's
#   GTK window code (and the GTK, icon and dconf/systemd packages it pulls in) is never
#   used.
# - libatomic1: Playwright's bundled Node.js, which drives Chromium, does not start
#   without it.
# - No docs, man pages or translations (as in Debian's slim images).
# - No Intel Media SDK hardware runtime (libmfxhw64 and its plugins, ~27 MB): ffmpeg
#   links only libmfx's dispatcher, which loads them for Intel Quick Sync, impossible
#   here anyway (no VA-API driver is installed), and Mediaferry does not use it.
# - No Vulkan validation layer or mock Vulkan driver from chromium-common (~24 MB):
#   debugging aids Chromium loads only when asked to validate or test Vulkan.
RUN printf '%s\n' \
        'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
        'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' \
        'path-exclude=/usr/share/locale/*' 'path-include=/usr/share/locale/locale.alias' \
        'path-exclude=/usr/lib/x86_64-linux-gnu/libmfxhw64.so*' \
        'path-exclude=/usr/lib/x86_64-linux-gnu/libmfx-tracer.so*' \
        'path-exclude=/usr/lib/x86_64-linux-gnu/mfx/*' \
        'path-exclude=/usr/lib/chromium/libVkLayer_khronos_validation.so*' \
        'path-exclude=/usr/lib/chromium/libVkICD_mock_icd.so*' \
        >/etc/dpkg/dpkg.cfg.d/mediaferry-slim \
    && apt-get update -o Acquire::Retries=3 \
    && apt-get install -y --no-install-recommends -o Acquire::Retries=3 \
        ca-certificates python3 python3-venv ffmpeg aria2 postgresql-client libatomic1 \
        binutils $(if [ "$WITH_CHROMIUM" = 1 ]; then echo chromium-headless-shell; fi) \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb

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
    # setuptools only builds packages; nothing imports it at run time, and pip (kept for
    # `mediaferry update`) fetches its own copy to build anything that is not a wheel
    /opt/mediaferry/bin/pip uninstall -q -y setuptools; \
    # symbol tables and debug info in the wheels' binaries (~85 MB: Playwright's Node.js,
    # curl_cffi's libcurl, asyncpg, brotli, ...); the code is untouched
    find /opt/mediaferry -type f \( -name '*.so' -o -name '*.so.*' \) \
        -exec strip --strip-unneeded {} +; \
    strip --strip-all /opt/mediaferry/lib/python3*/site-packages/playwright/driver/node; \
    /opt/mediaferry/lib/python3*/site-packages/playwright/driver/node --version; \
    /opt/mediaferry/bin/mediaferry version

# Packages nothing here uses, removed with dpkg (--force-depends: other packages
# declare them, but no program Mediaferry runs loads them; the check below proves no
# binary or library left lost a library it links, compared with before):
# - binutils: only for the strip above.
# - Mesa GPU drivers and the LLVM they pull in (~165 MB): ffmpeg only reaches them
#   through SDL/OpenGL for display; Chromium brings its own software GL (SwiftShader).
# - Perl (~50 MB; perl-base, which dpkg and debconf need, stays): only
#   postgresql-client's pg_wrapper, which picks a client version, is Perl. There is one
#   version here, so pg_dump, pg_restore and psql are linked from it into
#   /usr/local/bin, which comes before /usr/bin on PATH.
RUN set -eu; \
    unresolved() { \
        find /usr/bin /usr/sbin /usr/lib /usr/local /opt/mediaferry -type f \
            \( -perm -u+x -o -name '*.so' -o -name '*.so.*' \) -print0 \
        | xargs -0 -n 64 ldd 2>/dev/null \
        | awk '/^\// {f = $1} /not found/ {print f, $1}' | sort; \
    }; \
    unresolved >/tmp/unresolved-before; \
    pg=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); \
    for tool in pg_dump pg_restore psql; do ln -s "$pg/$tool" /usr/local/bin/$tool; done; \
    unused=$(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'binutils*' \
        'libbinutils' 'libctf*' 'libgprofng*' 'libjansson4' \
        'libgl1-mesa-dri' 'libllvm*' 'libz3-*' 'mesa-vulkan-drivers' \
        'perl' 'libperl5*' 'perl-modules-*' 2>/dev/null | awk '$1 == "ii" {print $2}'); \
    dpkg --purge --force-depends $unused; \
    rm -rf /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/log/apt /var/log/dpkg.log \
        /var/log/alternatives.log; \
    # only new ones count (libcaca's OpenGL display plugin, never used, lacked GLU/GLUT before)
    unresolved | comm -13 /tmp/unresolved-before - >/tmp/unresolved; \
    if [ -s /tmp/unresolved ]; then echo "unresolved:"; cat /tmp/unresolved; exit 1; fi; \
    rm /tmp/unresolved*; \
    ffmpeg -hide_banner -version >/dev/null; ffprobe -hide_banner -version >/dev/null; \
    aria2c --version >/dev/null; pg_dump --version; pg_restore --version; psql --version; \
    if [ "$WITH_CHROMIUM" = 1 ]; then chromium-headless-shell --version; fi

RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin mediaferry \
    && install -d -o mediaferry -g mediaferry -m 0750 /data

FROM scratch
COPY --from=rootfs / /

ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Inside the container the web server listens on every interface so a published port
# reaches it; without MEDIAFERRY_API_KEY only loopback clients (inside the container)
# are served, so set a key to use the API or page from outside.
ENV PATH=/opt/mediaferry/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/data \
    MEDIAFERRY_DATA_DIR=/data \
    MEDIAFERRY_WEB_HOST=0.0.0.0 \
    MEDIAFERRY_WEB_PORT=8080 \
    MEDIAFERRY_CHROMIUM_PATH=/usr/bin/chromium-headless-shell

USER mediaferry
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

# /health needs no key: 200 when the database, disk, a worker and aria2c are fine
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('MEDIAFERRY_WEB_PORT', '8080'), timeout=8)"]

STOPSIGNAL SIGTERM
CMD ["mediaferry", "run"]
