
use builtin;
use str;

set edit:completion:arg-completer[mailtest] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'mailtest'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'mailtest'= {
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand broker 'Run an embedded Kafka broker (librdkafka''s mock cluster) with the catalog''s topics'
            cand produce 'Publish email events (from files, fixtures, or generated) to Kafka'
            cand consume 'Read email events from Kafka topics'
            cand render 'Render email templates: previews, `.eml`, a gallery of every template, live preview, lints'
            cand sink 'Capture SMTP server with a durable store and an HTTP API (`sink list|show` read a store)'
            cand verify 'Check captured mail against YAML expectations (a live sink, a store, or .eml files)'
            cand dispatch 'The reference notification service: Kafka events to rendered email over SMTP'
            cand smoke 'Run the whole pipeline in one process: broker, sink, dispatch, produce, verify'
            cand catalog 'List the event catalog: types, their fields and fixtures'
            cand config 'Show the settings in effect and where each comes from'
            cand completions 'Print shell completions'
            cand man 'Write a man page for mailtest and each subcommand into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailtest;broker'= {
            cand --brokers 'Number of brokers in the cluster'
            cand --partitions 'Partitions of each topic created'
            cand --listen 'Serve the first broker on this address (the next brokers on the following ports)'
            cand --group-join-delay 'How long a new consumer group waits for more members before its first assignment (Kafka''s `group.initial.rebalance.delay.ms`; brokers default to 3s)'
            cand --ready-file 'Write the bootstrap address to this file once the broker is ready'
            cand -t 'More topics to create, repeatable; a pattern with `{type}` names one per catalog type (`{type}` for topics named after the types)'
            cand --topic 'More topics to create, repeatable; a pattern with `{type}` names one per catalog type (`{type}` for topics named after the types)'
            cand --catalog 'A catalog directory whose types also get topics'
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailtest;produce'= {
            cand -b 'Bootstrap servers, such as `127.0.0.1:9092`'
            cand --brokers 'Bootstrap servers, such as `127.0.0.1:9092`'
            cand -X 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)'
            cand --timeout 'How long to wait for the broker before giving up (exit 3)'
            cand --catalog 'A catalog directory that adds or replaces event types'
            cand --type 'Only these event types (generated or fixtures), repeatable'
            cand -n 'How many events to send; input is repeated, with fresh event ids, to reach it'
            cand --count 'How many events to send; input is repeated, with fresh event ids, to reach it'
            cand --rate 'Events per second (default: as fast as the broker takes them)'
            cand --seed 'Seed for generated events: the same seed gives the same events and event ids'
            cand -t 'Send every event to this topic, or to a topic per type named by a pattern with `{type}`: `email-events.{type}`, or `{type}` for topics named after the types'
            cand --topic 'Send every event to this topic, or to a topic per type named by a pattern with `{type}`: `email-events.{type}`, or `{type}` for topics named after the types'
            cand --header 'An extra header on every message, repeatable'
            cand --output 'Summary format on stdout (text goes to stderr)'
            cand --fallback-smtp 'When Kafka cannot be reached, render each event and send it straight to this SMTP server instead (as services that fall back on direct mail do)'
            cand --templates 'Templates for --fallback-smtp [default: built in]'
            cand --amqp 'Send the Celery tasks of a catalog with `celery.yaml` to RabbitMQ at this AMQP URL (`amqp://user:pass@host:5672/vhost`) instead of Kafka, with publisher confirms'
            cand --celery-results 'With a catalog whose `celery.yaml` makes events Celery tasks: wait for every task''s result in this Redis result backend (`redis://host:port/db`) and report the states'
            cand --results-timeout 'How long to wait for the tasks'' results after the last is sent'
            cand --poison 'Robustness mode: send malformed Celery tasks made from one of the catalog''s (`--poison` for every case, `--poison=no-id,bad-json` for some), each followed by a canary task, and report what the worker did with each; --results-timeout is the wait for each canary'
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand --fixtures 'Send the catalog''s sample fixtures'
            cand --topic-per-type 'One topic per event type (`email-events.{type}`) instead of one shared topic'
            cand --dry-run 'Print the events as JSON Lines instead of sending them'
            cand --raw 'Send input lines as they are, unchecked, to see how consumers treat garbage'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailtest;consume'= {
            cand -b 'Bootstrap servers, such as `127.0.0.1:9092`'
            cand --brokers 'Bootstrap servers, such as `127.0.0.1:9092`'
            cand -X 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)'
            cand --timeout 'How long to wait for the broker before giving up (exit 3)'
            cand --catalog 'A catalog directory that adds or replaces event types'
            cand -t 'Topic to read, repeatable; a pattern with `{type}` names one per catalog type [default: the config file''s `topic`, else the catalog''s topics that exist]'
            cand --topic 'Topic to read, repeatable; a pattern with `{type}` names one per catalog type [default: the config file''s `topic`, else the catalog''s topics that exist]'
            cand --from 'Where to start: beginning, end, -N (last N per partition), an offset, or @RFC3339-time'
            cand -g 'Join this consumer group and commit offsets (resumes where the group left off)'
            cand --group 'Join this consumer group and commit offsets (resumes where the group left off)'
            cand -n 'Exit after printing this many messages'
            cand --count 'Exit after printing this many messages'
            cand --type 'Only events of this type, repeatable'
            cand --task 'Only Celery tasks of this name (`app.tasks.send_welcome_email_task`), repeatable'
            cand --to 'Only events to this recipient address'
            cand --header 'Only messages with this header value, repeatable'
            cand -f 'Output format'
            cand --format 'Output format'
            cand --amqp 'Read RabbitMQ queues at this AMQP URL instead of Kafka topics, without consuming: every message read goes back to its queue'
            cand --queue 'With --amqp: a queue to read, repeatable [default: the catalog''s Celery queues, else `celery`]'
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand -e 'Exit once every partition is read to its end'
            cand --exit-at-end 'Exit once every partition is read to its end'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'mailtest;render'= {
            cand --event 'Render this event (JSON or YAML file, `-` for stdin) instead of a fixture'
            cand --fixture 'Which of the type''s fixtures to render [default: default, else the first]'
            cand --format 'What to print: subject and text, one part, the whole MIME message, or JSON'
            cand --out 'The gallery''s directory (created; existing files are replaced)'
            cand --serve 'Serve the gallery and reload it in the browser when a template or fixture changes'
            cand --ready-file 'With --serve: write `MAILTEST_RENDER=http://ADDR` to this file once listening'
            cand --templates 'Templates directory (layout as in the built-in `templates/`) [default: built in]'
            cand --catalog 'A catalog directory that adds or replaces event types and fixtures'
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand --all 'Render every template with every fixture into a static gallery (needs --out)'
            cand --check 'Lint every template with every fixture; exit 1 when there are errors'
            cand --strict 'With --check: warnings fail too'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'mailtest;sink'= {
            cand --smtp 'SMTP address to listen on [default: 127.0.0.1:1025]'
            cand --http 'HTTP API address [default: 127.0.0.1:8025]'
            cand --mailpit 'Also serve Mailpit''s API (v1) on this address, so suites written for Mailpit run unchanged with this as their base URL'
            cand --enable-spamassassin 'Score messages with this SpamAssassin daemon (`HOST:PORT` of `spamd`, or `unix:/path`): Mailpit''s `sa-check` route and the inbox''s spam tab, as Mailpit''s flag'
            cand --provider-key 'Accept only this key on the providers'' send APIs (SendGrid, SES, ...), under this name (which becomes the mailbox of what it sends), repeatable; default: any key'
            cand --mailhog 'Also serve MailHog''s API (v1 and v2) on this address, for suites written for MailHog'
            cand --api-token 'Require this token on the API (`Authorization: Bearer <token>`)'
            cand --store 'Store directory [default: .mailtest/store]'
            cand --retain-count 'Keep at most this many messages (the oldest go first; evictions are counted)'
            cand --retain-age 'Keep no message older than this, such as `24h`'
            cand --eml-dir 'Also keep every message as `DIR/<id>.eml`, for mail clients and tools that read files (files of deleted or evicted messages are removed)'
            cand --max-size 'Largest message accepted, such as `25MB` (larger ones get 552) [default: 25MiB]'
            cand --max-connections 'Sessions at once; more are told 421'
            cand --idle-timeout 'How long a client may stay silent'
            cand --hostname 'The name the server greets with'
            cand --tls-cert 'Offer STARTTLS with this PEM certificate chain (with --tls-key)'
            cand --tls-key 'The PEM private key for --tls-cert'
            cand --auth-users 'Accept only these AUTH credentials (`user:password,...`); default: anyone'
            cand --bare-lf 'What a line ending in a bare LF gets: `keep` stores the message byte for byte and flags it (`bare_lf`); `reject` answers 550 and closes, as postfix''s `smtpd_forbid_bare_newline = yes`'
            cand --release-to 'A server the API may release captured mail to, as `NAME=smtp://[user:pass@]host:port` with `?tls=none|opportunistic|required` and `&insecure=true`; repeatable. Without one, nothing can leave the sink'
            cand --release-allow 'Recipients (a regular expression over the whole address) a message may be released to besides its own envelope recipients'
            cand --faults 'Scripted faults (YAML rules); replaceable at runtime through the API'
            cand --allow-host 'Also answer API requests for this `Host` name (besides loopback names and the `--http` host); refused otherwise, against DNS rebinding'
            cand --ready-file 'Write `MAILTEST_SMTP=<addr>` and `MAILTEST_HTTP=<url>` to this file once listening (shell-sourceable)'
            cand --capture-topic 'Be a replica: write every accepted message to this Kafka topic and answer 250 only once the broker acknowledged it (451 otherwise). The local store is then a cache, in memory unless --store is given'
            cand --from-topic 'Be a reader: build the store from this topic (the mail of every replica), and capture this sink''s own mail into it too'
            cand -b 'Kafka bootstrap servers of the capture topic [default: 127.0.0.1:9092]'
            cand --brokers 'Kafka bootstrap servers of the capture topic [default: 127.0.0.1:9092]'
            cand -X 'A librdkafka property for the capture log''s clients, repeatable'
            cand --capture-timeout 'How long a message may wait for the broker''s acknowledgement before its client is told 451'
            cand --replica-name 'This replica''s name in its records [default: the host name and SMTP port]'
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand --allow-internal-http-requests 'Let Mailpit''s link check request loopback and private addresses (refused by default, so a message cannot make the sink reach into its network), as Mailpit''s own flag'
            cand --enable-chaos 'Let Mailpit''s chaos API (`/api/v1/chaos`) set fault rules, as Mailpit''s own flag'
            cand --memory 'Keep messages in memory only (nothing survives a restart)'
            cand --fsync 'Also sync every acknowledged message to disk, in batches (survives power loss)'
            cand --tls 'Offer STARTTLS with a self-signed certificate made at start'
            cand --auth-required 'Refuse mail (530) until the client authenticates'
            cand --no-auth 'Do not offer AUTH'
            cand --auth-before-tls 'Offer AUTH before STARTTLS too (with TLS on, AUTH is offered only after it)'
            cand --allow-remote 'Allow listening on an address other than loopback (the API then answers to any `Host` name)'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help'
            cand --help 'Print help'
            cand list 'List the messages in a store, oldest first'
            cand show 'Print one stored message exactly as received'
            cand export 'Write stored messages as `.eml` files, for any mail client or tool'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailtest;sink;list'= {
            cand --store 'Store directory [default: .mailtest/store]'
            cand --to 'Only messages to this address (envelope or `To`)'
            cand --mailbox 'Only messages in this mailbox (test run)'
            cand --subject 'Only messages whose subject contains this'
            cand --header 'Only messages with this header (`Name`) or whose header contains a value (`Name: text`)'
            cand --text 'Only messages whose subject or decoded text or HTML contains this'
            cand --output 'Listing format'
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailtest;sink;show'= {
            cand --store 'Store directory [default: .mailtest/store]'
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailtest;sink;export'= {
            cand --store 'Store directory [default: .mailtest/store]'
            cand --out 'Folder to write `<id>.eml` files into (created if missing)'
            cand --to 'Only messages to this address (envelope or `To`)'
            cand --mailbox 'Only messages in this mailbox (test run)'
            cand --subject 'Only messages whose subject contains this'
            cand --header 'Only messages with this header (`Name`) or whose header contains a value (`Name: text`)'
            cand --text 'Only messages whose subject or decoded text or HTML contains this'
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailtest;sink;help'= {
            cand list 'List the messages in a store, oldest first'
            cand show 'Print one stored message exactly as received'
            cand export 'Write stored messages as `.eml` files, for any mail client or tool'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailtest;sink;help;list'= {
        }
        &'mailtest;sink;help;show'= {
        }
        &'mailtest;sink;help;export'= {
        }
        &'mailtest;sink;help;help'= {
        }
        &'mailtest;verify'= {
            cand --sink 'A running sink''s HTTP API [default: `http://127.0.0.1:8025`]'
            cand --store 'A store directory instead of a running sink (checked once, no waiting)'
            cand --capture-topic 'Read the mail from this capture topic (where `sink --capture-topic` replicas write), to its end, with -b and -X'
            cand --eml '`.eml` files or Maildir folders instead of a sink (checked once, no waiting)'
            cand --timeout 'How long to wait for the expectations, overriding the file''s `timeout`'
            cand --mailbox 'Only mail of this mailbox (test run), overriding the file''s `mailbox`'
            cand --var 'Set a variable for `{{ name }}` placeholders (repeatable), overriding the file''s `vars`'
            cand --output 'The report: a table, or JSON with every verdict and extracted value'
            cand --junit 'Also write the report as JUnit XML to this file'
            cand --api-token 'The sink''s API token'
            cand --templates 'Templates for `matches_render` [default: built in]'
            cand --catalog 'A catalog directory for `matches_render` fixtures, formats and templates'
            cand -b 'Kafka, for `matches_render` with `from: kafka` (the events behind the mail)'
            cand --brokers 'Kafka, for `matches_render` with `from: kafka` (the events behind the mail)'
            cand -X 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)'
            cand --topic 'The topics holding those events, repeatable; `{type}` patterns allowed [default: the catalog''s topics]'
            cand --spamassassin 'The SpamAssassin daemon that scores mail for `spam_check` (`HOST:PORT` of `spamd`, or `unix:/path`)'
            cand --celery-results 'Celery''s Redis result backend (`redis://host:port/db`), for the file''s `celery:` task states'
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand --watch 'Run again each time mail arrives, until Ctrl-C (a live sink only)'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailtest;dispatch'= {
            cand -b 'Bootstrap servers, such as `127.0.0.1:9092`'
            cand --brokers 'Bootstrap servers, such as `127.0.0.1:9092`'
            cand -X 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)'
            cand --timeout 'How long to wait for the broker before giving up (exit 3)'
            cand --catalog 'A catalog directory that adds or replaces event types'
            cand --group 'The consumer group; processes in one group share the partitions [default: mailtest-dispatch]'
            cand --topic 'Topics to consume, repeatable; a pattern with `{type}` names one per catalog type [default: the config file''s `topic`, else `email-events` and `email-events.{type}`]'
            cand --dlq-topic 'Where events that can never be sent go, with the reason in headers'
            cand --smtp 'The SMTP server to send through [default: the config file''s `dispatch.smtp` or `sink.smtp`, else 127.0.0.1:1025]'
            cand --fallback-smtp 'A second SMTP server, used when the first stays unreachable'
            cand --smtp-tls 'TLS towards the SMTP servers'
            cand --smtp-user 'AUTH user for the SMTP servers'
            cand --smtp-password 'AUTH password'
            cand --concurrency 'Emails in flight at once per partition; events for one recipient stay in order'
            cand --max-attempts 'Attempts per email before it is dead-lettered (temporary failures only)'
            cand --retry-base 'The first retry delay; each next one doubles (with jitter), up to 10 s'
            cand --templates 'Templates directory [default: built in]'
            cand --state 'Where the ids of sent events are kept (one process per directory)'
            cand --http 'Health, readiness and metrics endpoints'
            cand --ready-file 'Write `MAILTEST_DISPATCH_HTTP=http://ADDR` to this file once running'
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand --smtp-insecure 'Accept any TLS certificate (a test server''s self-signed one)'
            cand --no-state 'Keep sent ids in memory only (a restart may send again)'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'mailtest;smoke'= {
            cand --scenario 'The scenario: events to produce and expectations to meet [default: every fixture of every event type, `fixtures/scenarios/default.yaml`]'
            cand -b 'Bootstrap servers, such as `127.0.0.1:9092`'
            cand --brokers 'Bootstrap servers, such as `127.0.0.1:9092`'
            cand -X 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)'
            cand --timeout 'How long to wait for the broker before giving up (exit 3)'
            cand --catalog 'A catalog directory that adds or replaces event types'
            cand --smtp-listen 'The sink''s SMTP address [default: a free loopback port; `127.0.0.1:1025` with --no-dispatch]'
            cand --http-listen 'The sink''s API address [default: a free loopback port]'
            cand -t 'Produce to this topic, or to a topic per type named by a pattern with `{type}` (`{type}`, `events.{type}`) [default: the config file''s `topic`, else `email-events`]'
            cand --topic 'Produce to this topic, or to a topic per type named by a pattern with `{type}` (`{type}`, `events.{type}`) [default: the config file''s `topic`, else `email-events`]'
            cand --wait 'How long to wait for the mail [default: the scenario''s `timeout`, else 30s]'
            cand --var 'Set a variable for the scenario''s `{{ name }}` placeholders (repeatable)'
            cand --templates 'Templates directory [default: built in]'
            cand --output 'Print the report as a table or as one JSON object'
            cand --junit 'Also write the verification as JUnit XML to this file'
            cand --ready-file 'Write `MAILTEST_BROKERS`, `MAILTEST_SMTP` and `MAILTEST_HTTP` to this file once the pipeline is up (shell-sourceable), before producing'
            cand --worker 'Your service or Celery worker, a shell command started once the broker and sink are up (with their addresses in `MAILTEST_*` variables) and stopped after the run; the reference dispatcher does not run'
            cand --celery-results 'Celery''s Redis result backend (`redis://host:port/db`): the scenario''s `celery:` task states are read there, and a started worker is ready once it runs a first task'
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand --allow-remote 'Allow --smtp-listen and --http-listen on an address other than loopback'
            cand --no-dispatch 'Do not run the reference dispatcher: your own service consumes the events and sends the mail to --smtp-listen'
            cand --topic-per-type 'Produce to one topic per event type (`email-events.{type}`)'
            cand --keep 'Leave the broker, sink and dispatcher up after the run, until Ctrl-C'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailtest;catalog'= {
            cand --catalog 'A catalog directory that adds or replaces event types'
            cand --output 'Print the listing as JSON'
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailtest;config'= {
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help'
            cand --help 'Print help'
            cand show 'Print every setting from the environment, the config file (and profile) and the defaults, with its source; flags win over all of these'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailtest;config;show'= {
            cand --output 'A table, or one JSON object per setting'
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailtest;config;help'= {
            cand show 'Print every setting from the environment, the config file (and profile) and the defaults, with its source; flags win over all of these'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailtest;config;help;show'= {
        }
        &'mailtest;config;help;help'= {
        }
        &'mailtest;completions'= {
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailtest;man'= {
            cand --color 'When to use colour; `NO_COLOR` set means never under `auto`'
            cand --config 'Config file [default: ./mailtest.yaml if present]'
            cand --profile 'Lay this profile of the config file over its other settings'
            cand --log-format 'Log line format on stderr'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors on stderr: no progress, no summaries'
            cand --quiet 'Only errors on stderr: no progress, no summaries'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailtest;help'= {
            cand broker 'Run an embedded Kafka broker (librdkafka''s mock cluster) with the catalog''s topics'
            cand produce 'Publish email events (from files, fixtures, or generated) to Kafka'
            cand consume 'Read email events from Kafka topics'
            cand render 'Render email templates: previews, `.eml`, a gallery of every template, live preview, lints'
            cand sink 'Capture SMTP server with a durable store and an HTTP API (`sink list|show` read a store)'
            cand verify 'Check captured mail against YAML expectations (a live sink, a store, or .eml files)'
            cand dispatch 'The reference notification service: Kafka events to rendered email over SMTP'
            cand smoke 'Run the whole pipeline in one process: broker, sink, dispatch, produce, verify'
            cand catalog 'List the event catalog: types, their fields and fixtures'
            cand config 'Show the settings in effect and where each comes from'
            cand completions 'Print shell completions'
            cand man 'Write a man page for mailtest and each subcommand into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailtest;help;broker'= {
        }
        &'mailtest;help;produce'= {
        }
        &'mailtest;help;consume'= {
        }
        &'mailtest;help;render'= {
        }
        &'mailtest;help;sink'= {
            cand list 'List the messages in a store, oldest first'
            cand show 'Print one stored message exactly as received'
            cand export 'Write stored messages as `.eml` files, for any mail client or tool'
        }
        &'mailtest;help;sink;list'= {
        }
        &'mailtest;help;sink;show'= {
        }
        &'mailtest;help;sink;export'= {
        }
        &'mailtest;help;verify'= {
        }
        &'mailtest;help;dispatch'= {
        }
        &'mailtest;help;smoke'= {
        }
        &'mailtest;help;catalog'= {
        }
        &'mailtest;help;config'= {
            cand show 'Print every setting from the environment, the config file (and profile) and the defaults, with its source; flags win over all of these'
        }
        &'mailtest;help;config;show'= {
        }
        &'mailtest;help;completions'= {
        }
        &'mailtest;help;man'= {
        }
        &'mailtest;help;help'= {
        }
    ]
    $completions[$command]
}
