#!/bin/sh
# Throwaway certificates for loopback TLS tests, made in DIR (default: the current folder):
#   ca.pem ca.key              a private CA
#   server.pem server.key      signed by it, for 127.0.0.1 and localhost (subjectAltName)
#   selfsigned.pem selfsigned.key  a self-signed certificate for 127.0.0.1 (no CA vouches for it)
# EC keys: made in milliseconds, where RSA would cost a test run noticeable time.
set -eu
dir=${1:-.}
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }

key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=runbook-test-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign

key server.key
openssl req -new -key server.key -out server.csr -subj /CN=127.0.0.1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
    -days 2 -extfile server.ext 2>/dev/null

key selfsigned.key
openssl req -x509 -new -key selfsigned.key -out selfsigned.pem -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1
rm -f server.csr server.ext ca.srl
