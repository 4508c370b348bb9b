#!/bin/sh
# Writes this pod's redis.conf, users.acl and sentinel.conf into /run/redis
# (a memory volume: the passwords never reach a disk). The master is whoever
# the running Sentinels say it is; with none running (first start, or every
# pod restarted), pod 0. Refuses to start without every password: an empty
# one would be no password at all.
set -eu

config="${CONFIG_DIR:-/config}"
run="${RUN_DIR:-/run/redis}"

hash() { printf %s "$1" | sha256sum | cut -d ' ' -f 1; }

# Each user of the template gets the SHA-256 of its password, REDIS_<USER>_PASSWORD,
# and during a rotation also of REDIS_<USER>_PASSWORD_PREVIOUS: both are accepted.
grep '^user ' "$config/users.acl" | while read -r _ user rules; do
  if [ "$user" = default ]; then
    echo "user default $rules"
    continue
  fi
  variable="REDIS_$(echo "$user" | tr a-z A-Z)_PASSWORD"
  eval "password=\${$variable:-} previous=\${${variable}_PREVIOUS:-}"
  if [ -z "$password" ]; then
    echo "refusing to start: $variable is empty (set it in the understudy-redis Secret, see k8s/README.md)" >&2
    exit 1
  fi
  echo "user $user $rules #$(hash "$password")${previous:+ #$(hash "$previous")}"
done > "$run/users.acl"

if [ -z "${REDIS_SENTINEL_PASSWORD:-}" ]; then
  echo "refusing to start: REDIS_SENTINEL_PASSWORD is empty (set it in the understudy-redis Secret, see k8s/README.md)" >&2
  exit 1
fi

self="${POD_NAME}.${HEADLESS_SERVICE}"
master=""
for i in 0 1 2; do
  peer="${STATEFULSET_NAME}-${i}.${HEADLESS_SERVICE}"
  [ "$peer" = "$self" ] && continue
  master="$(REDISCLI_AUTH="$REDIS_SENTINEL_PASSWORD" timeout 3 redis-cli -h "$peer" -p 26379 --raw sentinel get-master-addr-by-name "$MASTER_NAME" 2>/dev/null | head -n 1 || true)"
  [ -n "$master" ] && break
done
[ -n "$master" ] || master="${STATEFULSET_NAME}-0.${HEADLESS_SERVICE}"
echo "master: $master (this pod: $self)"

cp "$config/redis.conf" "$run/redis.conf"
cat >> "$run/redis.conf" <<CONF
masterauth $REDIS_INTERNAL_PASSWORD
replica-announce-ip $self
CONF
[ "$master" = "$self" ] || echo "replicaof $master 6379" >> "$run/redis.conf"

cat > "$run/sentinel.conf" <<CONF
port 26379
protected-mode yes
requirepass $REDIS_SENTINEL_PASSWORD
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel monitor $MASTER_NAME $master 6379 2
sentinel auth-user $MASTER_NAME internal
sentinel auth-pass $MASTER_NAME $REDIS_INTERNAL_PASSWORD
sentinel down-after-milliseconds $MASTER_NAME 5000
sentinel failover-timeout $MASTER_NAME 60000
sentinel parallel-syncs $MASTER_NAME 1
CONF
chmod 0600 "$run/redis.conf" "$run/users.acl" "$run/sentinel.conf"
