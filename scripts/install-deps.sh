#!/usr/bin/env bash
# Installs what building and testing runbook needs on Debian 12, as root. Safe to run again.
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps.sh: run as root (it uses apt-get)" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
packages=(
    build-essential cmake pkg-config            # the build
    libyaml-dev libpcre2-dev libjansson-dev     # loader, regexes, JSON
    libssl-dev                                  # base64 (EVP_EncodeBlock) for secret masking
    libcurl4-openssl-dev libpq-dev libssh2-1-dev # the http, sql and ssh actions
    libc-ares-dev                               # the dns action
    libcmocka-dev                               # unit tests
    postgresql openssh-server openssh-client openssl # servers the network tests start on loopback
    python3-dnslib                              # tests/servers/dnsd.py (run by /usr/bin/python3)
    util-linux procps                           # script(1) for terminal tests, pkill/ps
    clang                                       # libFuzzer targets (tests/fuzz)
    python3 time chromium                       # test helpers (/usr/bin/time for peak memory; chromium renders runbook report's HTML)
    groff-base man-db zsh                       # the man page and the completions are checked by their readers
    dpkg-dev file                               # cpack -G DEB (dpkg-shlibdeps) in suite_conventions
)
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# The schema test runs ajv from npm. Keep an existing Node.js (its npm comes with it);
# otherwise take Debian's.
if ! command -v npm >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
echo "install-deps.sh: done"
