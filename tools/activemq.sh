#!/usr/bin/env bash
# Idempotent install/start/stop of a throw-away ActiveMQ 5.17 broker (Debian 12 package) for the
# tests and the demo (service events over STOMP). Copied from ../shared/notes/recipes/activemq.sh,
# plus: install uses `sudo -n` when not root; start refuses a port another process answers on.
# usage: activemq.sh install|start|stop|status     (only 'install' needs root or sudo)
# env:   AMQ_BASE (default ./.activemq), AMQ_STOMP_PORT (61613), AMQ_OPENWIRE_PORT (61616)
set -euo pipefail
AMQ_BASE=${AMQ_BASE:-$PWD/.activemq}
STOMP_PORT=${AMQ_STOMP_PORT:-61613}
OPENWIRE_PORT=${AMQ_OPENWIRE_PORT:-61616}
PIDFILE=$AMQ_BASE/activemq.pid

install() {
  if [ "$(dpkg-query -W -f='${Status}\n' activemq libxstream-java libjettison-java 2>/dev/null | grep -c '^install ok installed$')" = 3 ]; then
    echo "activemq already installed ($(dpkg-query -W -f='${Version}' activemq))"; return 0
  fi
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    sudo -n true 2>/dev/null || { echo "installing activemq needs root: run 'sudo $0 install'" >&2; return 1; }
    sudo=(sudo -n)
  fi
  # xstream + jettison are only Recommends, but the STOMP jms-map-json/xml transformation needs them
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq activemq libxstream-java libjettison-java >/dev/null
  echo "installed: $(dpkg-query -W -f='${Version}' activemq)"
}

write_config() {
  mkdir -p "$AMQ_BASE/conf" "$AMQ_BASE/data" "$AMQ_BASE/tmp" "$AMQ_BASE/lib"
  # jars that the Debian package leaves off the broker classpath ($BASE/lib is scanned by activemq.jar)
  ln -sfn /usr/share/java/xstream.jar  "$AMQ_BASE/lib/xstream.jar"
  ln -sfn /usr/share/java/jettison.jar "$AMQ_BASE/lib/jettison.jar"
  cat > "$AMQ_BASE/conf/activemq.xml" <<EOF
<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <bean class="org.springframework.beans.factory.config.PropertyPlaceholderConfigurer"/>
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="localhost"
          useJmx="false" dataDirectory="\${activemq.data}">
    <persistenceAdapter><kahaDB directory="\${activemq.data}/kahadb"/></persistenceAdapter>
    <plugins><statisticsBrokerPlugin/></plugins>
    <transportConnectors>
      <transportConnector name="openwire" uri="tcp://127.0.0.1:${OPENWIRE_PORT}"/>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:${STOMP_PORT}"/>
    </transportConnectors>
  </broker>
</beans>
EOF
  cat > "$AMQ_BASE/conf/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.logger.org.springframework=WARN
log4j.logger.org.apache.xbean=WARN
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=%d{ISO8601} | %-5p | %m | %c%n
EOF
}

stomp_ready() {  # true when a STOMP CONNECT gets CONNECTED back
  python3 - "$STOMP_PORT" <<'EOF'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2); s.settimeout(3)
    s.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\x00")
    ok = s.recv(64).startswith(b"CONNECTED"); s.sendall(b"DISCONNECT\n\n\x00"); s.close()
    sys.exit(0 if ok else 1)
except OSError:
    sys.exit(1)
EOF
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  if running && stomp_ready; then echo "already running (pid $(cat "$PIDFILE"))"; return 0; fi
  running && stop
  [ -f /usr/share/activemq/bin/activemq.jar ] || { echo "activemq is not installed: run '$0 install'" >&2; return 1; }
  if stomp_ready; then echo "port $STOMP_PORT already answers STOMP (another broker?); set AMQ_STOMP_PORT" >&2; return 1; fi
  write_config
  nohup java -Xms128m -Xmx512m -Djava.awt.headless=true -Djava.io.tmpdir="$AMQ_BASE/tmp" \
    -Dactivemq.classpath="$AMQ_BASE/conf" -Dactivemq.home=/usr/share/activemq \
    -Dactivemq.base="$AMQ_BASE" -Dactivemq.conf="$AMQ_BASE/conf" -Dactivemq.data="$AMQ_BASE/data" \
    -jar /usr/share/activemq/bin/activemq.jar start "xbean:file:$AMQ_BASE/conf/activemq.xml" \
    > "$AMQ_BASE/activemq.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 600); do            # up to 60 s
    if stomp_ready; then echo "ActiveMQ up (pid $(cat "$PIDFILE"), stomp 127.0.0.1:$STOMP_PORT)"; return 0; fi
    running || { echo "broker died:"; tail -40 "$AMQ_BASE/activemq.log"; return 1; }
    sleep 0.1
  done
  echo "timeout waiting for STOMP"; tail -40 "$AMQ_BASE/activemq.log"; return 1
}

stop() {
  running || { rm -f "$PIDFILE"; echo "not running"; return 0; }
  local pid; pid=$(cat "$PIDFILE"); kill -TERM "$pid"
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$PIDFILE"; echo "stopped pid $pid"
}

case "${1:-}" in
  install) install ;;
  start)   start ;;
  stop)    stop ;;
  status)  if running; then echo "running pid $(cat "$PIDFILE")"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
