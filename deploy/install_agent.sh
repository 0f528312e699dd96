#!/usr/bin/env bash
# Installs the EdgeStelle agent on this node: the one-file bundle, a system user, a state dir,
# the agent's environment file, enrollment with a join token, and a systemd unit.
# Safe to run again: it updates the bundle and unit, keeps the node's identity, and enrolls
# only once.
set -euo pipefail

readonly MIN_NODE_MAJOR=20
readonly MIN_NODE_MINOR=12
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
  cat <<'EOF'
Usage: install_agent.sh --master URL --token TOKEN [options]
       install_agent.sh --uninstall [--purge] [--root DIR]

Installs:
  /opt/edgestelle/edgestelle-agent.mjs        the agent (one file; needs Node.js >= 20.12)
  /etc/edgestelle/agent.env                   its settings (EDGESTELLE_*), mode 0600, root only
  /var/lib/edgestelle/                        its state: node id, keys, run ledger, spool (0700)
  /etc/systemd/system/edgestelle-agent.service
and enrolls the node with the master, then enables and starts the service.

Options:
  --master URL       the master's URL, e.g. https://edgestelle.example.com
  --token TOKEN      a join token an admin created (edgestelle join-token create)
  --bundle FILE      the agent bundle (default: edgestelle-agent.mjs beside this script,
                     else dist/edgestelle-agent.mjs of the source tree)
  --from-master      download the bundle from --master (/downloads/edgestelle-agent),
                     checked against its published SHA-256; for an https master with a
                     private CA, set NODE_EXTRA_CA_CERTS=FILE
  --user NAME        the system user the agent runs as (default: edgestelle; created if
                     missing). Use --user root when the scripts administer the machine
                     and you do not want to grant sudo rules (see OPERATIONS.md).
  --env KEY=VALUE    an extra EDGESTELLE_* setting for agent.env (repeatable), e.g.
                     --env EDGESTELLE_TAGS=site=berlin,role=gateway
  --mqtt-ca FILE     the CA certificate of the broker (gen_certs.sh's ca.crt): installed as
                     /etc/edgestelle/ca.crt and set as EDGESTELLE_MQTT_CA_FILE
  --node PATH        the node binary (default: node on PATH)
  --no-enroll        install only; enroll later with
                     edgestelle-agent enroll --master URL --token TOKEN
  --no-start         do not enable or start the service
  --root DIR         install under DIR instead of / (for images and tests): no useradd,
                     no chown, no systemctl
  --uninstall        stop and remove the service, bundle and settings; keeps the state dir
  --purge            with --uninstall: also delete the state dir (the node's identity and
                     any output not yet delivered) and the system user
  -h, --help         this text
EOF
}

die() {
  echo "install_agent.sh: $*" >&2
  exit 1
}

master_url=''
token=''
bundle=''
from_master=false
service_user=edgestelle
node_bin=''
mqtt_ca=''
root=''
enroll=true
start=true
uninstall=false
purge=false
extra_env=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --master) master_url=${2:?--master needs a URL}; shift 2 ;;
    --token) token=${2:?--token needs a join token}; shift 2 ;;
    --bundle) bundle=${2:?--bundle needs a file}; shift 2 ;;
    --from-master) from_master=true; shift ;;
    --user) service_user=${2:?--user needs a name}; shift 2 ;;
    --env) extra_env+=("${2:?--env needs KEY=VALUE}"); shift 2 ;;
    --node) node_bin=${2:?--node needs a path}; shift 2 ;;
    --mqtt-ca) mqtt_ca=${2:?--mqtt-ca needs a file}; shift 2 ;;
    --root) root=${2:?--root needs a folder}; shift 2 ;;
    --no-enroll) enroll=false; shift ;;
    --no-start) start=false; shift ;;
    --uninstall) uninstall=true; shift ;;
    --purge) purge=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; echo >&2; die "unknown argument: $1" ;;
  esac
done

if [[ -n $root ]]; then
  mkdir -p "$root"
  root=$(cd "$root" && pwd)
fi
readonly opt_dir="$root/opt/edgestelle"
readonly etc_dir="$root/etc/edgestelle"
readonly env_file="$etc_dir/agent.env"
readonly unit_file="$root/etc/systemd/system/edgestelle-agent.service"
readonly state_dir="$root/var/lib/edgestelle"
readonly bin_link="$root/usr/local/bin/edgestelle-agent"
# Inside --root nothing touches the running system; outside it we must be root.
real_system() { [[ -z $root ]]; }

if real_system && [[ $(id -u) -ne 0 ]]; then
  die 'run as root (sudo), or use --root DIR to install into a folder'
fi

systemctl_quiet() {
  if real_system && command -v systemctl >/dev/null; then systemctl "$@"; fi
}

if [[ $uninstall == true ]]; then
  systemctl_quiet disable --now edgestelle-agent.service 2>/dev/null || true
  rm -f "$unit_file" "$bin_link" "$opt_dir/edgestelle-agent.mjs" "$env_file" "$etc_dir/ca.crt"
  rmdir "$opt_dir" "$etc_dir" 2>/dev/null || true
  systemctl_quiet daemon-reload
  if [[ $purge == true ]]; then
    rm -rf "$state_dir"
    if real_system && [[ $service_user != root ]] && id "$service_user" >/dev/null 2>&1; then
      userdel "$service_user"
    fi
    echo 'EdgeStelle agent removed, with its state and user.'
  else
    echo "EdgeStelle agent removed; its state (node identity, undelivered output) stays in $state_dir (--purge deletes it)."
  fi
  exit 0
fi

[[ $service_user =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "not a user name: $service_user"
for pair in "${extra_env[@]}"; do
  [[ $pair =~ ^EDGESTELLE_[A-Z0-9_]+=[^$'\n']*$ ]] || die "--env takes EDGESTELLE_NAME=value on one line, not: $pair"
done
if [[ -n $mqtt_ca ]]; then
  grep -q 'BEGIN CERTIFICATE' "$mqtt_ca" 2>/dev/null || die "--mqtt-ca needs a PEM certificate file, not: $mqtt_ca"
fi
if [[ $enroll == true ]]; then
  [[ -n $master_url && -n $token ]] || die 'give --master URL and --token TOKEN (or --no-enroll to enroll later)'
fi
if [[ $from_master == true ]]; then
  [[ -n $master_url ]] || die '--from-master needs --master URL'
  [[ -z $bundle ]] || die 'give --bundle FILE or --from-master, not both'
fi
if [[ -n $master_url ]]; then
  [[ $master_url =~ ^https?://[^[:space:]]+$ ]] || die "--master takes an http(s) URL, not: $master_url"
fi

# Node.js: the bundle needs nothing else, but it needs a Node of its generation.
if [[ -z $node_bin ]]; then
  node_bin=$(command -v node || true)
fi
if [[ -z $node_bin || ! -x $node_bin ]]; then
  die "Node.js >= $MIN_NODE_MAJOR.$MIN_NODE_MINOR is needed and no 'node' was found.
  Debian 13 / Ubuntu 24.04: apt-get install nodejs
  Older releases: install Node.js 20 LTS or later from NodeSource's packages or the official
  Linux binary tarball (unpack to /usr/local), then run this again (or pass --node PATH)."
fi
node_bin=$(cd "$(dirname "$node_bin")" && pwd)/$(basename "$node_bin")
node_version=$("$node_bin" -p 'process.versions.node')
IFS=. read -r node_major node_minor _ <<<"$node_version"
if ((node_major < MIN_NODE_MAJOR || (node_major == MIN_NODE_MAJOR && node_minor < MIN_NODE_MINOR))); then
  die "Node.js $node_version at $node_bin is too old: the agent needs >= $MIN_NODE_MAJOR.$MIN_NODE_MINOR.
  Upgrade it (Debian 13 / Ubuntu 24.04: apt-get install nodejs; otherwise Node.js 20 LTS or later
  from NodeSource's packages or the official binary tarball) and run this again."
fi

# The master hands out the agent that matches it; the download is checked against the digest
# it publishes beside it, so a cut-off or altered transfer is never installed.
download_bundle() {
  # The program is JavaScript: its ${…} are template literals, not the shell's.
  # shellcheck disable=SC2016
  "$node_bin" --input-type=module -e '
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
const [base, out] = process.argv.slice(1);
const get = async (path) => {
  const url = base.replace(/[/]+$/, "") + path;
  const response = await fetch(url, { redirect: "error", signal: AbortSignal.timeout(120000) }).catch((err) => {
    throw new Error(`cannot reach ${url}: ${err.cause?.code ?? err.cause?.message ?? err.message}`);
  });
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
};
try {
  const [bundle, sums] = await Promise.all([get("/downloads/edgestelle-agent"), get("/downloads/edgestelle-agent.sha256")]);
  const published = sums.toString("utf8").split(/\s/, 1)[0];
  const actual = createHash("sha256").update(bundle).digest("hex");
  if (actual !== published) throw new Error(`the download has SHA-256 ${actual}, the master publishes ${published}`);
  writeFileSync(out, bundle, { mode: 0o644 });
} catch (err) {
  console.error(err.message);
  process.exit(1);
}' "$1" "$2"
}

if [[ $from_master == true ]]; then
  download_dir=$(mktemp -d)
  trap 'rm -rf "$download_dir"' EXIT
  bundle=$download_dir/edgestelle-agent.mjs
  download_bundle "$master_url" "$bundle" || die "could not download the agent from $master_url (see above)"
  echo "Downloaded the agent from $master_url/downloads/edgestelle-agent (SHA-256 checked)."
fi
if [[ -z $bundle ]]; then
  for candidate in "$here/edgestelle-agent.mjs" "$here/../dist/edgestelle-agent.mjs"; do
    if [[ -f $candidate ]]; then bundle=$candidate; break; fi
  done
fi
[[ -n $bundle && -f $bundle ]] || die 'no agent bundle found: pass --from-master, or --bundle FILE, or build it with: node deploy/build-agent-bundle.mjs'

if real_system && [[ $service_user != root ]] && ! id "$service_user" >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/edgestelle --no-create-home --shell /usr/sbin/nologin \
    --comment 'EdgeStelle agent' "$service_user"
  echo "Created system user $service_user."
fi

# /etc/edgestelle is readable (ca.crt is public); agent.env inside it is root's alone.
install -d -m 0755 "$opt_dir" "$etc_dir" "$root/usr/local/bin" "$root/etc/systemd/system"
install -d -m 0700 "$state_dir"
if real_system; then chown "$service_user:" "$state_dir"; fi

# Replace the bundle atomically so a running agent never sees half a file.
install -m 0644 "$bundle" "$opt_dir/edgestelle-agent.mjs.new"
mv -f "$opt_dir/edgestelle-agent.mjs.new" "$opt_dir/edgestelle-agent.mjs"
# The unit's node flags (its ExecStart line) go into the wrapper too: under another init
# system the wrapper is how the agent runs.
node_flags=$(sed -n 's|^ExecStart=/usr/bin/env node \(.*\) /opt/edgestelle/edgestelle-agent\.mjs$|\1|p' \
  "$here/edgestelle-agent.service")
cat >"$bin_link.new" <<EOF
#!/bin/sh
# EdgeStelle agent command line (installed by install_agent.sh).
exec "$node_bin"${node_flags:+ $node_flags} /opt/edgestelle/edgestelle-agent.mjs "\$@"
EOF
chmod 0755 "$bin_link.new"
mv -f "$bin_link.new" "$bin_link"

if [[ -n $mqtt_ca ]]; then
  install -m 0644 "$mqtt_ca" "$etc_dir/ca.crt"
fi

# agent.env: written whole every time from the arguments, so the file says what was asked.
umask 077
{
  echo '# EdgeStelle agent settings (written by install_agent.sh; read by systemd as root).'
  echo 'EDGESTELLE_STATE_DIR=/var/lib/edgestelle'
  if [[ -n $mqtt_ca ]]; then echo 'EDGESTELLE_MQTT_CA_FILE=/etc/edgestelle/ca.crt'; fi
  for pair in "${extra_env[@]}"; do echo "$pair"; done
} >"$env_file.new"
chmod 0600 "$env_file.new"
mv -f "$env_file.new" "$env_file"
umask 022

sed -e "s|^User=.*|User=$service_user|" \
  -e "s|^Group=.*|Group=$(if [[ $service_user == root ]]; then echo root; else echo "$service_user"; fi)|" \
  -e "s|^ExecStart=/usr/bin/env node |ExecStart=$node_bin |" \
  "$here/edgestelle-agent.service" >"$unit_file.new"
chmod 0644 "$unit_file.new"
mv -f "$unit_file.new" "$unit_file"
echo "Installed the agent (Node.js $node_version) under ${root:-/}."

if [[ $enroll == true ]]; then
  if [[ -f $state_dir/credentials.json ]]; then
    echo "Already enrolled ($state_dir/credentials.json): keeping this node's identity."
  else
    run_as=()
    if real_system && [[ $service_user != root ]]; then run_as=(runuser -u "$service_user" --); fi
    if ! env EDGESTELLE_STATE_DIR="$state_dir" \
      "${run_as[@]}" "$node_bin" "$opt_dir/edgestelle-agent.mjs" enroll --master "$master_url" --token "$token"; then
      die "enrollment with $master_url failed (see above); the service is installed but not enabled.
  Fix the cause (a used or expired token, the master's URL, its TLS certificate) and run this again."
    fi
    echo 'Enrolled.'
  fi
fi

if [[ $start == true ]]; then
  if real_system && command -v systemctl >/dev/null; then
    systemctl daemon-reload
    systemctl enable edgestelle-agent.service
    systemctl restart edgestelle-agent.service
    echo 'Started edgestelle-agent.service: journalctl -u edgestelle-agent -f'
  elif real_system; then
    echo 'No systemctl here: start the agent with /usr/local/bin/edgestelle-agent under your init system.'
  fi
fi
exit 0
