#!/bin/sh
# The Huawei Cloud console guide's recipe for mutual TLS ("HTTPS双向认证", 证书准备), verbatim:
# RSA-2048 keys, `-sha1`, `-days 5000`, O=ELB, CN=www.test.com, no extensions.
# Usage: seed_recipe.sh DIR server|client
# The one deviation: the guide's final pkcs12 export prompts for a password; here it is read
# from $SEED_P12_PASSWORD (-passout env:) so the test runs unattended.
set -eu
dir=$1
side=$2
mkdir -p "$dir/$side"
cd "$dir/$side"

cat > ca_cert.conf <<'CONF'
[ req ]
distinguished_name     = req_distinguished_name
prompt                 = no
 
[ req_distinguished_name ]
 O                      = ELB
CONF

cat > "${side}_cert.conf" <<'CONF'
[ req ]
distinguished_name     = req_distinguished_name
prompt                 = no
 
[ req_distinguished_name ]
 O                      = ELB
 CN                     = www.test.com
CONF

openssl genrsa -out ca.key 2048
openssl genrsa -out "$side.key" 2048
openssl req -out ca.csr -key ca.key -new -config ./ca_cert.conf
openssl req -out "$side.csr" -key "$side.key" -new -config "./${side}_cert.conf"
openssl x509 -req -in ca.csr -out ca.crt -sha1 -days 5000 -signkey ca.key
openssl x509 -req -in "$side.csr" -out "$side.crt" -sha1 -CAcreateserial -days 5000 -CA ca.crt -CAkey ca.key

if [ "$side" = client ]; then
  openssl pkcs12 -export -clcerts -in client.crt -inkey client.key -out client.p12 \
    -passout env:SEED_P12_PASSWORD
fi
