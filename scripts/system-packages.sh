#!/usr/bin/env bash
# Debian packages Shifa needs beyond Python: gettext (message catalogues), chromium (browser tests) with
# chromium-l10n (its own controls in Arabic in the guides' screenshots), npm (the browser-side test tools,
# axe-core), mosquitto (the MQTT broker the device tests publish through), redis-server (the
# tests that take Redis away from a running product), and for PDF documents Pango
# (WeasyPrint's text layout) with Arabic fonts (Amiri, Noto).
# Installs only what is missing; as root directly, otherwise through sudo.
set -euo pipefail
need=()
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v msgfmt >/dev/null || need+=(gettext)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v npm >/dev/null || need+=(npm)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || need+=(redis-server)
command -v docker-compose >/dev/null || need+=(docker-compose)  # checks deploy/compose (tests/deploy), no engine
for package in chromium-l10n libpango-1.0-0 libpangoft2-1.0-0 fonts-hosny-amiri fonts-noto-core; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || need+=("$package")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "Please install these Debian packages: ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
