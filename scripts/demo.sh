#!/bin/sh
# The main job, offline: make a busybox base image locally, build the example
# web app on it, run it as a container with a published port, and fetch its page.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export FREIGHT_ROOT="${FREIGHT_ROOT:-$PWD/.demo-root}"
port=${DEMO_PORT:-18080}

echo "== making busybox:latest from Debian's busybox-static"
./scripts/make-busybox-image.sh busybox:latest

echo "== freight build -t hello-web examples/hello-web"
freight build -t hello-web examples/hello-web

echo "== freight run --rm hello-web cat /var/www/index.html"
freight run --rm hello-web cat /var/www/index.html

echo "== freight run -d -p 127.0.0.1:$port:80 hello-web"
freight rm -f demo-web >/dev/null 2>&1 || true
freight run -d --name demo-web -p "127.0.0.1:$port:80" hello-web
trap 'freight rm -f demo-web >/dev/null 2>&1 || true' EXIT
freight ps
echo "== GET http://127.0.0.1:$port/"
.venv/bin/python - "$port" <<'PY'
import sys, time, urllib.request
for attempt in range(50):
    try:
        print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=2).read().decode(), end="")
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("the container's web server did not answer")
PY
freight stop demo-web >/dev/null
freight rm demo-web >/dev/null

echo "== freight images"
freight images
