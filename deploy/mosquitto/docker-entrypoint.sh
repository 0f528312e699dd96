#!/bin/sh
# Starts Mosquitto in the eclipse-mosquitto image. On the first start it creates the
# dynamic-security file with one user, the master's, which then makes every node's user over
# MQTT. Later starts keep the file: users, roles and ACLs live there.
set -eu

data_dir=${MOSQUITTO_DATA_DIR:-/mosquitto/data}
config=${MOSQUITTO_CONFIG:-/mosquitto/config/mosquitto.conf}
dynsec="$data_dir/dynamic-security.json"

if [ ! -f "$dynsec" ]; then
  : "${MQTT_MASTER_USERNAME:?set MQTT_MASTER_USERNAME (docker-compose.yml does)}"
  : "${MQTT_MASTER_PASSWORD:?set MQTT_MASTER_PASSWORD in .env (openssl rand -hex 24)}"
  mkdir -p "$data_dir"
  mosquitto_ctrl dynsec init "$dynsec" "$MQTT_MASTER_USERNAME" "$MQTT_MASTER_PASSWORD" >/dev/null
  echo "Created $dynsec with the master's user $MQTT_MASTER_USERNAME."
fi
# Mosquitto drops root before it reads its data and certificates: its user owns the data.
chown -R mosquitto:mosquitto "$data_dir"
chmod 0700 "$data_dir"
chmod 0600 "$dynsec"
exec mosquitto -c "$config"
