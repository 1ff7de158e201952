#!/usr/bin/env bash
# The system packages the build and the tests use, installed with apt-get when missing (the
# package that provides each command or file). Idempotent: does nothing when all are present.
# `npm test` runs it first; .ci/run through npm test.
set -euo pipefail

missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_file() { [ -e "$1" ] || missing+=("$2"); }

need strip binutils       # strips the single binary
need unshare util-linux   # PID-1 tests run us in a fresh PID namespace
need script bsdutils      # terminal checks
need bash bash            # the interactive-shell tests drive bash
need make make            # node-gyp builds the native addon
need g++ g++
need python3 python3
need openssl openssl     # the TLS tests make a self-signed certificate
need tini tini           # npm run bench: the baseline a PID 1 is measured against
# The server's PostgreSQL store is tested on a throwaway cluster (test/helpers/postgres.ts):
# initdb and pg_ctl of Debian's postgresql, under /usr/lib/postgresql/<major>/bin.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)

# --- Release addons (scripts/release/addons.mjs) and their tests: readelf reads symbol
# versions; the arm64 cross compilers and their C library build linux-arm64; qemu runs arm64
# code here; debootstrap makes the Debian 11 root filesystem the x64 addons are loaded in.
need readelf binutils
need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
need aarch64-linux-gnu-g++ g++-aarch64-linux-gnu
need_file /usr/aarch64-linux-gnu/lib/libc.so.6 libc6-arm64-cross
need qemu-aarch64-static qemu-user-static
need debootstrap debootstrap
# --- end release addons

# --- The container rig (test/helpers/containers.ts, registry.ts) and its tests: podman builds
# and runs images in a storage root of the rig's own, with runc (crun is refused by the sandbox
# the tests run in here); uidmap, slirp4netns and fuse-overlayfs are what podman needs rootless.
# skopeo and umoci copy and take images apart; docker-registry (distribution 2.8) is the real
# registry the tests start on 127.0.0.1, htpasswd (apache2-utils) makes its Basic-auth users;
# systemd-analyze verifies the example unit (most machines have systemd already).
need podman podman
need runc runc
need newuidmap uidmap
need slirp4netns slirp4netns
need fuse-overlayfs fuse-overlayfs
need skopeo skopeo
need umoci umoci
need docker-registry docker-registry
need htpasswd apache2-utils
need systemd-analyze systemd
# --- end container rig

# --- The web console's browser tests (test/integration/server/console/): Debian's chromium,
# driven by playwright-core at /usr/bin/chromium (no browser is ever downloaded).
need_file /usr/bin/chromium chromium
# --- end console

if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -ne 0 ]; then
    echo "system-deps: missing packages, install them as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
