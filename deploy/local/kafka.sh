#!/usr/bin/env bash
# Apache Kafka (KRaft, one combined broker+controller) from Maven Central, run with Java 17.
# Usage: kafka.sh install|start|stop|kill|status  (kill: SIGKILL, as in a crash)
source "$(dirname "$0")/lib.sh"

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HOME="$STACK_DIR/kafka"
# A second instance (the fault suite's) may share the first one's jars.
LIBS="${KAFKA_LIBS:-$KAFKA_HOME/libs-$KAFKA_VERSION}"
DATA="$KAFKA_HOME/data"
PIDFILE="$RUN_DIR/kafka.pid"

install() {
  [[ -f "$LIBS/.complete" ]] && return 0
  command -v java >/dev/null || die "java (17+) is required: apt-get install openjdk-17-jre-headless"
  command -v mvn >/dev/null || die "maven is required: apt-get install maven"
  log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime dependencies with mvn"
  mkdir -p "$KAFKA_HOME"
  sed "s/@KAFKA_VERSION@/$KAFKA_VERSION/" "$(dirname "$0")/kafka-pom.xml" >"$KAFKA_HOME/pom.xml"
  rm -rf "$LIBS"
  mvn -B -q -f "$KAFKA_HOME/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS" >"$LOG_DIR/kafka-install.log" 2>&1 \
    || die "mvn could not resolve Kafka (see $LOG_DIR/kafka-install.log)"
  touch "$LIBS/.complete"
}

write_config() {
  mkdir -p "$KAFKA_HOME"
  cat >"$KAFKA_HOME/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.backoff.ms=1000
PROPS
  cat >"$KAFKA_HOME/log4j2.properties" <<PROPS
appender.file.type=File
appender.file.name=file
appender.file.fileName=$LOG_DIR/kafka-server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.state.name=state.change.logger
logger.state.level=WARN
PROPS
}

java_cmd() {
  java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.properties" \
    -cp "$LIBS/*" "$@"
}

start() {
  install
  if pid_alive "$PIDFILE"; then
    log "kafka already running (pid $(cat "$PIDFILE"))"
    return 0
  fi
  port_open "$KAFKA_HOST" "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by a process this stack did not start"
  write_config
  if [[ ! -f "$DATA/meta.properties" ]]; then
    log "formatting KRaft storage in $DATA"
    mkdir -p "$DATA"
    local cluster_id
    cluster_id=$(java_cmd kafka.tools.StorageTool random-uuid 2>>"$LOG_DIR/kafka.log")
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_HOME/server.properties" \
      >>"$LOG_DIR/kafka.log" 2>&1 || die "formatting Kafka storage failed (see $LOG_DIR/kafka.log)"
  fi
  log "starting kafka $KAFKA_VERSION on $KAFKA_HOST:$KAFKA_PORT"
  setsid bash -c "exec java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile='$KAFKA_HOME/log4j2.properties' \
    -cp '$LIBS/*' kafka.Kafka '$KAFKA_HOME/server.properties'" \
    >>"$LOG_DIR/kafka.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  wait_for 90 "kafka" port_open "$KAFKA_HOST" "$KAFKA_PORT" \
    || die "kafka did not open $KAFKA_PORT within 90 s (see $LOG_DIR/kafka.log, $LOG_DIR/kafka-server.log)"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_pidfile "$PIDFILE" kafka ;;
  kill) pid_alive "$PIDFILE" && kill -KILL -- "-$(cat "$PIDFILE")" 2>/dev/null; rm -f "$PIDFILE" ;;
  status) pid_alive "$PIDFILE" && echo "kafka: running (pid $(cat "$PIDFILE"))" || echo "kafka: stopped" ;;
  *) die "usage: $0 install|start|stop|kill|status" ;;
esac
