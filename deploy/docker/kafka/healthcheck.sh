#!/bin/bash
# Healthy once this start of the broker logged "Kafka Server started" (it has caught up with the
# metadata log and registered) and its client port accepts connections. No JVM: cheap every few seconds.
grep -q 'Kafka Server started' /var/log/kafka/server.log 2>/dev/null && exec 3<>/dev/tcp/127.0.0.1/9092
