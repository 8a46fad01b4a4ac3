#!/bin/bash
# Renders server.properties from the environment, formats the KRaft storage once, runs the broker.
#   KAFKA_NODE_ID, KAFKA_CONTROLLER_QUORUM_VOTERS (e.g. 1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093),
#   KAFKA_LISTENERS, KAFKA_ADVERTISED_LISTENERS, ... : every KAFKA_FOO_BAR becomes foo.bar=...
#   KAFKA_CLUSTER_ID: the cluster's id, the same on every node (formatted into the storage once).
#   KAFKA_HEAP_OPTS: the JVM heap (default -Xms256m -Xmx768m).
set -euo pipefail
config=/var/lib/kafka/server.properties
{
  echo "log.dirs=/var/lib/kafka/data"
  echo "controller.listener.names=CONTROLLER"
  echo "inter.broker.listener.name=PLAINTEXT"
  echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  echo "num.network.threads=2"
  echo "num.io.threads=4"
  while IFS='=' read -r name value; do
    case "$name" in
      KAFKA_HEAP_OPTS|KAFKA_CLUSTER_ID) continue ;;
      KAFKA_*) key=${name#KAFKA_}; key=${key,,}; echo "${key//_/.}=$value" ;;
    esac
  done < <(env)
} > "$config"
cluster_id=${KAFKA_CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}
java_opts=(-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
           -Dlog4j.configuration=file:/opt/kafka/log4j.properties -Dkafka.logs.dir=/var/log/kafka)
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  java -Xmx256m -XX:TieredStopAtLevel=1 "${java_opts[@]}" -Dkafka.log.name=tools -cp '/opt/kafka/libs/*' \
    kafka.tools.StorageTool format --ignore-formatted --config "$config" --cluster-id "$cluster_id"
fi
rm -f /var/log/kafka/server.log
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m} "${java_opts[@]}" -Dkafka.log.name=server \
  -cp '/opt/kafka/libs/*' kafka.Kafka "$config"
