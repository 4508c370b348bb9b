#!/bin/sh
# Writes this pod's redis.conf and sentinel.conf into /run/redis. The master is
# whoever the running Sentinels say it is; with none running (first start, or
# every pod restarted), pod 0.
set -eu

self="${POD_NAME}.${HEADLESS_SERVICE}"
master=""
for i in 0 1 2; do
  peer="${STATEFULSET_NAME}-${i}.${HEADLESS_SERVICE}"
  [ "$peer" = "$self" ] && continue
  master="$(timeout 3 redis-cli -h "$peer" -p 26379 --raw sentinel get-master-addr-by-name "$MASTER_NAME" 2>/dev/null | head -n 1 || true)"
  [ -n "$master" ] && break
done
[ -n "$master" ] || master="${STATEFULSET_NAME}-0.${HEADLESS_SERVICE}"
echo "master: $master (this pod: $self)"

cp /config/redis.conf /run/redis/redis.conf
echo "replica-announce-ip $self" >> /run/redis/redis.conf
[ "$master" = "$self" ] || echo "replicaof $master 6379" >> /run/redis/redis.conf

cat > /run/redis/sentinel.conf <<CONF
port 26379
protected-mode no
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel monitor $MASTER_NAME $master 6379 2
sentinel down-after-milliseconds $MASTER_NAME 5000
sentinel failover-timeout $MASTER_NAME 60000
sentinel parallel-syncs $MASTER_NAME 1
CONF
