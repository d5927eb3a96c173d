#!/usr/bin/env bash
# Installs the Debian packages that the end-to-end tests use, when they are missing.
# Without root it only reports what is missing, and the tests that need a package then skip
# and say which one.
set -euo pipefail

missing=()
[[ -x /usr/bin/protoc ]] || missing+=(protobuf-compiler)
/usr/bin/python3 -c 'import grpc' 2>/dev/null || missing+=(python3-grpcio)
/usr/bin/python3 -c 'import google.protobuf' 2>/dev/null || missing+=(python3-protobuf)
/usr/bin/python3 -c 'import jwt' 2>/dev/null || missing+=(python3-jwt)
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || missing+=(python3-cryptography)
command -v openssl >/dev/null || missing+=(openssl)
command -v setpriv >/dev/null || missing+=(util-linux)
command -v unshare >/dev/null || missing+=(util-linux)
# A private Docker engine for the docker and systemd attestor tests, with busybox for images.
command -v dockerd >/dev/null || missing+=(docker.io)
[[ -x /bin/busybox ]] || missing+=(busybox-static)
# A private D-Bus for the systemd attestor's unit tests, and systemd booted in a container.
command -v dbus-daemon >/dev/null || missing+=(dbus-daemon)
[[ -x /lib/systemd/systemd ]] || missing+=(systemd)

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "Missing Debian packages: ${missing[*]}. Install them as root (apt-get install -y ${missing[*]}); the tests that need them will skip." >&2
  exit 0
fi

echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# apt installs util-linux once even when both checks above added it.
apt-get install -y -q --no-install-recommends "${missing[@]}"
