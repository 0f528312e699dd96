#!/usr/bin/env bash
# Makes the TLS material for an EdgeStelle broker: a private CA, a broker certificate whose
# subjectAltNames are the DNS names and IP addresses clients use to reach the broker, and,
# optionally, one client certificate per node. Needs only openssl.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: gen_certs.sh [options] --dns NAME [--dns NAME ...] [--ip ADDR ...] [--client NODE_ID ...]

Creates in the output folder (default ./certs, mode 0700):
  ca.crt  ca.key            the private CA (kept if it exists; --force makes a new one)
  broker.crt  broker.key    the broker's certificate, signed by the CA, with the given SANs
  clients/NODE_ID.crt|.key  a client certificate per --client (CN = node id)
Private keys are 0600, certificates 0644. Re-running re-issues the broker and client
certificates from the existing CA (e.g. to add a name); nodes keep trusting it.

Options:
  --out DIR        output folder (default: ./certs)
  --dns NAME       a DNS name of the broker (repeatable; at least one --dns or --ip)
  --ip ADDR        an IP address of the broker (repeatable)
  --client ID      also issue a client certificate for this node id (repeatable)
  --days N         validity of broker and client certificates (default: 825)
  --ca-days N      validity of a new CA (default: 3650)
  --ca-name NAME   common name of a new CA (default: EdgeStelle CA)
  --broker-owner U[:G]  give broker.key and broker.crt to this owner (the broker drops root
                   before it reads them: 1883:1883 in the eclipse-mosquitto image, mosquitto on
                   Debian); the folder becomes 0711 so that user can reach them, not list them
  --force          replace an existing CA (every node must then get the new ca.crt)
  -h, --help       this text
EOF
}

die() {
  echo "gen_certs.sh: $*" >&2
  exit 2
}

out=./certs
days=825
ca_days=3650
ca_name='EdgeStelle CA'
force=false
broker_owner=''
dns_names=()
ips=()
clients=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --dns) dns_names+=("${2:?--dns needs a name}"); shift 2 ;;
    --ip) ips+=("${2:?--ip needs an address}"); shift 2 ;;
    --client) clients+=("${2:?--client needs a node id}"); shift 2 ;;
    --days) days=${2:?--days needs a number}; shift 2 ;;
    --ca-days) ca_days=${2:?--ca-days needs a number}; shift 2 ;;
    --ca-name) ca_name=${2:?--ca-name needs a name}; shift 2 ;;
    --broker-owner) broker_owner=${2:?--broker-owner needs USER[:GROUP]}; shift 2 ;;
    --force) force=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

[[ ${#dns_names[@]} -gt 0 || ${#ips[@]} -gt 0 ]] || { usage >&2; die 'give the broker at least one --dns NAME or --ip ADDR'; }
[[ $days =~ ^[0-9]+$ && $ca_days =~ ^[0-9]+$ ]] || die '--days and --ca-days take whole numbers'
for name in "${dns_names[@]}"; do
  [[ $name =~ ^[A-Za-z0-9*]([A-Za-z0-9.*-]{0,252})$ ]] || die "not a DNS name: $name"
done
for ip in "${ips[@]}"; do
  [[ $ip =~ ^[0-9A-Fa-f.:]+$ ]] || die "not an IP address: $ip"
done
# Node ids go into file names and certificate subjects: the protocol's alphabet only.
for node_id in "${clients[@]}"; do
  [[ $node_id =~ ^[a-z0-9][a-z0-9-]{0,63}$ ]] || die "not a node id (a-z, 0-9, '-'; up to 64): $node_id"
done
command -v openssl >/dev/null || die 'openssl is not installed (apt-get install openssl)'

umask 077
mkdir -p "$out"
chmod 0700 "$out"

if [[ -e $out/ca.key && $force != true ]]; then
  echo "Keeping the existing CA in $out (use --force to replace it)."
else
  openssl req -x509 -new -newkey rsa:3072 -nodes -sha256 -days "$ca_days" \
    -subj "/CN=$ca_name" \
    -addext 'basicConstraints=critical,CA:TRUE,pathlen:0' \
    -addext 'keyUsage=critical,keyCertSign,cRLSign' \
    -keyout "$out/ca.key.new" -out "$out/ca.crt.new" 2>/dev/null
  mv -f "$out/ca.key.new" "$out/ca.key"
  mv -f "$out/ca.crt.new" "$out/ca.crt"
  echo "Created a new CA in $out."
fi

# issue NAME SUBJECT_CN EXTENSIONS: a key and a CA-signed certificate, written atomically.
issue() {
  local base=$1 cn=$2 extensions=$3
  local ext_file
  ext_file=$(mktemp)
  printf '%s\n' "$extensions" >"$ext_file"
  openssl req -new -newkey rsa:2048 -nodes -sha256 -subj "/CN=$cn" \
    -keyout "$base.key.new" -out "$base.csr" 2>/dev/null
  openssl x509 -req -sha256 -days "$days" -in "$base.csr" \
    -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial -CAserial "$out/ca.srl" \
    -extfile "$ext_file" -out "$base.crt.new" 2>/dev/null
  rm -f "$base.csr" "$ext_file"
  mv -f "$base.key.new" "$base.key"
  mv -f "$base.crt.new" "$base.crt"
  chmod 0600 "$base.key"
  chmod 0644 "$base.crt"
}

san=''
for name in "${dns_names[@]}"; do san+="${san:+,}DNS:$name"; done
for ip in "${ips[@]}"; do san+="${san:+,}IP:$ip"; done
first_name=${dns_names[0]:-${ips[0]}}
issue "$out/broker" "$first_name" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san"
if [[ -n $broker_owner ]]; then
  chown "$broker_owner" "$out/broker.key" "$out/broker.crt"
  chmod 0711 "$out"
fi
echo "Issued $out/broker.crt for $san."

if [[ ${#clients[@]} -gt 0 ]]; then
  mkdir -p "$out/clients"
  chmod 0700 "$out/clients"
  for node_id in "${clients[@]}"; do
    issue "$out/clients/$node_id" "$node_id" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
    echo "Issued $out/clients/$node_id.crt."
  done
fi

chmod 0600 "$out/ca.key"
chmod 0644 "$out/ca.crt"
[[ -e $out/ca.srl ]] && chmod 0600 "$out/ca.srl"
exit 0
