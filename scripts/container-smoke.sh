#!/usr/bin/env bash
# Builds the container image and runs it for real: waits for /health, submits a
# direct-file job from a local HTTP server over the REST API, checks the file that comes
# back, checks the service does not run as root, and reports the image size.
#
# Engine: rootful podman from Debian (with runc: crun fails on hybrid cgroups). When no
# engine can be installed (not root, no apt-get, not Debian) it prints why and exits 0.
# Image registries need not be reachable: the base image is made here with mmdebstrap
# from this machine's own apt sources files and imported (`podman import`). pip inside
# the build gets this machine's CA bundle and pip index settings as build secrets, never
# as build args or layers. Everything runs on the host network and talks over 127.0.0.1
# only. Every wait has a time limit; everything the script made is removed at the end.
#
#   scripts/container-smoke.sh                     build + run (with Chromium)
#   SMOKE_MEASURE_NO_CHROMIUM=1 scripts/...        also build WITH_CHROMIUM=0, report size
#   SKIP_CONTAINER_SMOKE=1 .ci/run                 leave it out (says so)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

skip() { echo "container smoke: SKIPPED: $*"; exit 0; }
fail() { echo "container smoke: FAILED: $*" >&2; exit 1; }
say() { printf '[%5ss] %s\n' "$SECONDS" "$*"; }

# ---------------------------------------------------------------- engine
[ "${SKIP_CONTAINER_SMOKE:-0}" = 1 ] && skip "SKIP_CONTAINER_SMOKE=1 is set"
[ "$(id -u)" = 0 ] || skip "needs root for rootful podman and mmdebstrap"
command -v apt-get >/dev/null 2>&1 || skip "no apt-get: not a Debian-like machine"
[ -f /etc/os-release ] && . /etc/os-release
SUITE=${VERSION_CODENAME:-}
[ -n "$SUITE" ] || skip "cannot tell the Debian release (VERSION_CODENAME)"
need=()
for tool in podman runc mmdebstrap; do command -v "$tool" >/dev/null 2>&1 || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_opts=(-y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends)
  if ! timeout 600 apt-get install "${apt_opts[@]}" podman runc mmdebstrap uidmap >/dev/null 2>&1; then
    timeout 300 apt-get update -qq -o DPkg::Lock::Timeout=300 >/dev/null 2>&1 || true
    timeout 600 apt-get install "${apt_opts[@]}" podman runc mmdebstrap uidmap >/dev/null 2>&1 \
      || skip "could not install podman, runc and mmdebstrap with apt-get"
  fi
fi

# apt sources for the base image: this machine's own Debian entries (no host name here)
sources=()
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
  [ -s "$f" ] || continue
  grep -qE "^(Suites:|deb[[:space:]]).*[[:space:]]$SUITE([[:space:]]|\$)" "$f" || continue
  grep -qi "debian" "$f" || continue
  sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || skip "no Debian $SUITE apt sources on this machine for mmdebstrap"

TAG="mf-smoke-$$"
WORK=$(mktemp -d /tmp/mediaferry-smoke.XXXXXX)
CTR="$TAG"
IMAGES=()
SERVER_PID=""
cleanup() {
  set +e
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  if podman container exists "$CTR" 2>/dev/null; then
    timeout 60 podman rm -f -t 5 "$CTR" >/dev/null 2>&1
  fi
  timeout 60 podman volume rm -f "$TAG-data" >/dev/null 2>&1
  for image in "${IMAGES[@]}"; do timeout 60 podman rmi -f "$image" >/dev/null 2>&1; done
  # build cache of the removed images (dangling layers)
  timeout 120 podman image prune -f --filter "label=io.mediaferry.smoke=$TAG" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# podman's default rlimits exceed this machine's hard limits (nofile: the hard limit;
# nproc: runc is refused anything near the shell's hard limit, 4096 is plenty); runc
hard_nofile=$(ulimit -Hn)
[ "$hard_nofile" = unlimited ] && hard_nofile=1048576
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$hard_nofile:$hard_nofile", "nproc=4096:4096"]

[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$WORK/containers.conf"
podman info >/dev/null 2>&1 || skip "podman does not work here: $(podman info 2>&1 | tail -1)"

# ---------------------------------------------------------------- base image
say "base image: mmdebstrap $SUITE from ${sources[*]}"
# like Debian's slim images: no docs, man pages or translations
slim=()
for opt in 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
    'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' \
    'path-exclude=/usr/share/locale/*' 'path-include=/usr/share/locale/locale.alias'; do
  slim+=("--dpkgopt=$opt")
done
if ! timeout 600 mmdebstrap --variant=minbase --mode=root --quiet "${slim[@]}" \
    --aptopt='Acquire::Retries "3"' \
    "$SUITE" "$WORK/base.tar" "${sources[@]}" >"$WORK/mmdebstrap.log" 2>&1; then
  tail -5 "$WORK/mmdebstrap.log"
  skip "mmdebstrap could not make a base image from this machine's apt sources"
fi
BASE="localhost/$TAG-base:latest"
timeout 300 podman import -q "$WORK/base.tar" "$BASE" >/dev/null || skip "podman import failed"
IMAGES+=("$BASE")
rm -f "$WORK/base.tar"

# ---------------------------------------------------------------- build secrets
# pip's CA bundle and index settings on this machine, passed as secrets
ca=""
for c in "${PIP_CERT:-}" "$(pip3 config get global.cert 2>/dev/null || true)" \
    "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
  if [ -n "$c" ] && [ -s "$c" ]; then ca=$c; break; fi
done
PIPCONF="$WORK/pip.conf"
PY=python3
[ -x "$ROOT/.venv/bin/python" ] && PY="$ROOT/.venv/bin/python"
"$PY" - "$PIPCONF" <<'EOF_PY' || printf '[global]\n' >"$PIPCONF"
import os, subprocess, sys
keys = {"index-url": "PIP_INDEX_URL", "extra-index-url": "PIP_EXTRA_INDEX_URL",
        "trusted-host": "PIP_TRUSTED_HOST", "timeout": "PIP_TIMEOUT",
        "default-timeout": "PIP_DEFAULT_TIMEOUT"}
found = {}
try:
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"],
                         capture_output=True, text=True, timeout=60).stdout
except Exception:
    out = ""
for line in out.splitlines():
    name, _, value = line.partition("=")
    key = name.split(".", 1)[-1]
    if key in keys:
        found[key] = value.strip().strip("'\"")
for key, env in keys.items():
    if os.environ.get(env):
        found[key] = os.environ[env]
lines = []
for key, value in found.items():
    parts = value.split()
    if key.endswith("url"):  # local folders (file://) do not exist inside the build
        parts = [p for p in parts if "://" in p and not p.startswith("file:")]
    if parts:
        lines.append(f"{key} = {' '.join(parts)}")
with open(sys.argv[1], "w") as f:
    f.write("[global]\n" + "".join(line + "\n" for line in lines))
os.chmod(sys.argv[1], 0o600)
EOF_PY
secrets=(--secret "id=pipconf,src=$PIPCONF")
[ -n "$ca" ] && secrets+=(--secret "id=ca,src=$ca")

# ---------------------------------------------------------------- build
build() {  # build TAG [extra podman args]
  local tag=$1; shift
  local started=$SECONDS
  local try
  for try in 1 2; do  # once more after a failure: package mirrors have bad moments
    if timeout 1500 podman build --network host --format docker --layers=false \
        --build-arg "BASE_IMAGE=$BASE" --label "io.mediaferry.smoke=$TAG" \
        "${secrets[@]}" "$@" -t "$tag" . >"$WORK/build.log" 2>&1; then
      break
    fi
    tail -30 "$WORK/build.log" >&2
    [ "$try" = 1 ] || fail "podman build failed twice"
    say "podman build failed; trying once more"
  done
  IMAGES+=("$tag")
  local size
  size=$(podman image inspect --format '{{.Size}}' "$tag")
  say "built $tag in $((SECONDS - started)) s: $((size / 1000000)) MB"
  echo "$size" >"$WORK/size"
}
IMAGE="localhost/$TAG:latest"
build "$IMAGE"
SIZE_WITH=$(cat "$WORK/size")
SIZE_WITHOUT=""
if [ "${SMOKE_MEASURE_NO_CHROMIUM:-0}" = 1 ]; then
  build "localhost/$TAG-nochromium:latest" --build-arg WITH_CHROMIUM=0
  SIZE_WITHOUT=$(cat "$WORK/size")
  timeout 60 podman rmi -f "localhost/$TAG-nochromium:latest" >/dev/null 2>&1 || true
fi
[ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = mediaferry ] \
  || fail "the image does not run as the mediaferry user"
[ -n "$(podman image inspect --format '{{.Config.Healthcheck}}' "$IMAGE")" ] \
  || fail "the image has no HEALTHCHECK"

# ---------------------------------------------------------------- local media server
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkdir -p "$WORK/www"
timeout 60 ffmpeg -v error -f lavfi -i testsrc=duration=2:size=320x240:rate=25 \
  -f lavfi -i sine=frequency=440:duration=2 -c:v libx264 -pix_fmt yuv420p -c:a aac \
  -shortest -movflags +faststart "$WORK/www/clip.mp4" || fail "ffmpeg could not make the test clip"
"$PY" - "$WORK/www" "$WORK/www.port" <<'PY' &
import functools, http.server, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
handler = functools.partial(Quiet, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
open(sys.argv[2], "w").write(str(server.server_address[1]))
server.serve_forever()
PY
SERVER_PID=$!
for _ in $(seq 100); do [ -s "$WORK/www.port" ] && break; sleep 0.1; done
[ -s "$WORK/www.port" ] || fail "the local HTTP server did not start"
MEDIA_PORT=$(cat "$WORK/www.port")

# ---------------------------------------------------------------- run
PORT=$(free_port)
KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
say "starting the container (web on 127.0.0.1:$PORT)"
# host network: the container reaches the local media server on 127.0.0.1, and the
# web server is bound to 127.0.0.1 too (the image's default is 0.0.0.0)
# no systemd timer for the HEALTHCHECK here: `podman healthcheck run` runs it on demand
podman run -d --name "$CTR" --network host --health-interval disable \
  -v "$TAG-data:/data" \
  -e MEDIAFERRY_WEB_HOST=127.0.0.1 -e MEDIAFERRY_WEB_PORT="$PORT" \
  -e MEDIAFERRY_API_KEY="$KEY" -e MEDIAFERRY_ALLOW_PRIVATE_NETWORKS=true \
  -e MEDIAFERRY_MIN_FREE_GB=0 -e MEDIAFERRY_LOG_LEVEL=INFO \
  "$IMAGE" >/dev/null 2>"$WORK/run.err" || { cat "$WORK/run.err" >&2; fail "podman run failed"; }

logs() { timeout 30 podman logs --tail 30 "$CTR" 2>&1 | sed 's/^/    /' >&2 || true; }
api() {  # api METHOD PATH [JSON] -> body on stdout
  local args=(-sS --max-time 15 -H "Authorization: Bearer $KEY" -X "$1")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}" "http://127.0.0.1:$PORT$2"
}
json() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }

deadline=$((SECONDS + 120))
until timeout 20 podman healthcheck run "$CTR" >/dev/null 2>&1; do
  [ "$(podman inspect --format '{{.State.Running}}' "$CTR" 2>/dev/null)" = true ] \
    || { logs; fail "the container stopped"; }
  [ $SECONDS -lt $deadline ] || { logs; fail "not healthy within 120 s"; }
  sleep 1
done
health=$(curl -sS --max-time 10 "http://127.0.0.1:$PORT/health") || fail "/health did not answer"
say "healthy: $health"

code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$PORT/api/jobs")
[ "$code" = 401 ] || fail "the API answered $code without the key (expected 401)"

created=$(api POST /api/jobs "{\"url\": \"http://127.0.0.1:$MEDIA_PORT/clip.mp4\"}") \
  || fail "POST /api/jobs failed"
JOB=$(echo "$created" | json "['id']") || fail "POST /api/jobs answered: $created"
say "job $JOB submitted"
deadline=$((SECONDS + 120))
while :; do
  body=$(api GET "/api/jobs/$JOB") || fail "GET /api/jobs/$JOB failed"
  status=$(echo "$body" | json "['status']")
  case "$status" in
    COMPLETED) break ;;
    FAILED|CANCELLED) logs; fail "job $JOB ended $status: $(echo "$body" | json "['error_message']")" ;;
  esac
  [ $SECONDS -lt $deadline ] || { logs; fail "job $JOB still $status after 120 s"; }
  sleep 0.5
done
path=$(echo "$body" | json "['file_path']")
size=$(echo "$body" | json "['file_size']")
timeout 30 podman exec "$CTR" test -s "$path" || fail "$path is not in the container"
curl -sS --max-time 30 -H "Authorization: Bearer $KEY" -o "$WORK/result.mp4" \
  "http://127.0.0.1:$PORT/api/jobs/$JOB/file" || fail "could not fetch the result"
[ "$(stat -c %s "$WORK/result.mp4")" = "$size" ] || fail "the result's size is not $size"
probe=$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$WORK/result.mp4" | sort | tr '\n' ' ')
[ "$probe" = "aac h264 " ] || fail "the result is not the H.264/AAC clip (streams: $probe)"
say "job $JOB COMPLETED: $path ($size bytes, streams: $probe)"

# the browser source: Playwright (its Node.js driver) drives the image's Chromium to
# a page on the local server and finds the video the page plays
printf '<video src="clip.mp4" autoplay muted></video>\n' >"$WORK/www/page.html"
sniffed=$(timeout 120 podman exec -i "$CTR" python3 - "http://127.0.0.1:$MEDIA_PORT/page.html" \
  2>"$WORK/sniff.err" <<'PY'
import asyncio, sys
from mediaferry.config import load_settings
from mediaferry.sources.browser import sniff_media
print(" ".join(s.url for s in asyncio.run(sniff_media(sys.argv[1], load_settings()))))
PY
) || { tail -5 "$WORK/sniff.err" >&2; fail "Playwright could not drive Chromium in the container"; }
case "$sniffed" in *"/clip.mp4"*) say "Playwright drove Chromium in the container: found $sniffed" ;;
  *) tail -5 "$WORK/sniff.err" >&2; fail "the browser source found no video (found: $sniffed)" ;; esac
dom=$(timeout 60 podman exec "$CTR" sh -c '"$MEDIAFERRY_CHROMIUM_PATH" --headless --no-sandbox \
  --disable-gpu --dump-dom "data:text/html,<p id=x>chromium-ok</p>"' 2>/dev/null) || true
case "$dom" in *chromium-ok*) say "Chromium renders a page in the container" ;;
  *) fail "Chromium did not render a page in the container" ;; esac

uid=$(timeout 30 podman exec "$CTR" sh -c 'grep "^Uid:" /proc/1/status' | awk '{print $2}')
user=$(timeout 30 podman exec "$CTR" id -un)
[ -n "$uid" ] && [ "$uid" != 0 ] || fail "the service runs as root (uid $uid)"
say "service runs as $user (uid $uid), not root"

timeout 60 podman stop -t 30 "$CTR" >/dev/null 2>&1 || fail "podman stop failed"
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$CTR")
[ "$exit_code" = 0 ] || { logs; fail "the service exited $exit_code on SIGTERM"; }

echo "container smoke: OK in ${SECONDS} s; image with Chromium $((SIZE_WITH / 1000000)) MB${SIZE_WITHOUT:+, without Chromium $((SIZE_WITHOUT / 1000000)) MB}"
