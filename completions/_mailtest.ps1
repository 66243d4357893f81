
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'mailtest' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'mailtest'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'mailtest' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('broker', 'broker', [CompletionResultType]::ParameterValue, 'Run an embedded Kafka broker (librdkafka''s mock cluster) with the catalog''s topics')
            [CompletionResult]::new('produce', 'produce', [CompletionResultType]::ParameterValue, 'Publish email events (from files, fixtures, or generated) to Kafka')
            [CompletionResult]::new('consume', 'consume', [CompletionResultType]::ParameterValue, 'Read email events from Kafka topics')
            [CompletionResult]::new('render', 'render', [CompletionResultType]::ParameterValue, 'Render email templates: previews, `.eml`, a gallery of every template, live preview, lints')
            [CompletionResult]::new('sink', 'sink', [CompletionResultType]::ParameterValue, 'Capture SMTP server with a durable store and an HTTP API (`sink list|show` read a store)')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check captured mail against YAML expectations (a live sink, a store, or .eml files)')
            [CompletionResult]::new('dispatch', 'dispatch', [CompletionResultType]::ParameterValue, 'The reference notification service: Kafka events to rendered email over SMTP')
            [CompletionResult]::new('smoke', 'smoke', [CompletionResultType]::ParameterValue, 'Run the whole pipeline in one process: broker, sink, dispatch, produce, verify')
            [CompletionResult]::new('catalog', 'catalog', [CompletionResultType]::ParameterValue, 'List the event catalog: types, their fields and fixtures')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Show the settings in effect and where each comes from')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write a man page for mailtest and each subcommand into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailtest;broker' {
            [CompletionResult]::new('--brokers', '--brokers', [CompletionResultType]::ParameterName, 'Number of brokers in the cluster')
            [CompletionResult]::new('--partitions', '--partitions', [CompletionResultType]::ParameterName, 'Partitions of each topic created')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Serve the first broker on this address (the next brokers on the following ports)')
            [CompletionResult]::new('--group-join-delay', '--group-join-delay', [CompletionResultType]::ParameterName, 'How long a new consumer group waits for more members before its first assignment (Kafka''s `group.initial.rebalance.delay.ms`; brokers default to 3s)')
            [CompletionResult]::new('--ready-file', '--ready-file', [CompletionResultType]::ParameterName, 'Write the bootstrap address to this file once the broker is ready')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'More topics to create, repeatable; a pattern with `{type}` names one per catalog type (`{type}` for topics named after the types)')
            [CompletionResult]::new('--topic', '--topic', [CompletionResultType]::ParameterName, 'More topics to create, repeatable; a pattern with `{type}` names one per catalog type (`{type}` for topics named after the types)')
            [CompletionResult]::new('--catalog', '--catalog', [CompletionResultType]::ParameterName, 'A catalog directory whose types also get topics')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailtest;produce' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Bootstrap servers, such as `127.0.0.1:9092`')
            [CompletionResult]::new('--brokers', '--brokers', [CompletionResultType]::ParameterName, 'Bootstrap servers, such as `127.0.0.1:9092`')
            [CompletionResult]::new('-X', '-X ', [CompletionResultType]::ParameterName, 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the broker before giving up (exit 3)')
            [CompletionResult]::new('--catalog', '--catalog', [CompletionResultType]::ParameterName, 'A catalog directory that adds or replaces event types')
            [CompletionResult]::new('--type', '--type', [CompletionResultType]::ParameterName, 'Only these event types (generated or fixtures), repeatable')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'How many events to send; input is repeated, with fresh event ids, to reach it')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'How many events to send; input is repeated, with fresh event ids, to reach it')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Events per second (default: as fast as the broker takes them)')
            [CompletionResult]::new('--seed', '--seed', [CompletionResultType]::ParameterName, 'Seed for generated events: the same seed gives the same events and event ids')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Send every event to this topic, or to a topic per type named by a pattern with `{type}`: `email-events.{type}`, or `{type}` for topics named after the types')
            [CompletionResult]::new('--topic', '--topic', [CompletionResultType]::ParameterName, 'Send every event to this topic, or to a topic per type named by a pattern with `{type}`: `email-events.{type}`, or `{type}` for topics named after the types')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'An extra header on every message, repeatable')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Summary format on stdout (text goes to stderr)')
            [CompletionResult]::new('--fallback-smtp', '--fallback-smtp', [CompletionResultType]::ParameterName, 'When Kafka cannot be reached, render each event and send it straight to this SMTP server instead (as services that fall back on direct mail do)')
            [CompletionResult]::new('--templates', '--templates', [CompletionResultType]::ParameterName, 'Templates for --fallback-smtp [default: built in]')
            [CompletionResult]::new('--amqp', '--amqp', [CompletionResultType]::ParameterName, 'Send the Celery tasks of a catalog with `celery.yaml` to RabbitMQ at this AMQP URL (`amqp://user:pass@host:5672/vhost`) instead of Kafka, with publisher confirms')
            [CompletionResult]::new('--celery-results', '--celery-results', [CompletionResultType]::ParameterName, 'With a catalog whose `celery.yaml` makes events Celery tasks: wait for every task''s result in this Redis result backend (`redis://host:port/db`) and report the states')
            [CompletionResult]::new('--results-timeout', '--results-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the tasks'' results after the last is sent')
            [CompletionResult]::new('--poison', '--poison', [CompletionResultType]::ParameterName, 'Robustness mode: send malformed Celery tasks made from one of the catalog''s (`--poison` for every case, `--poison=no-id,bad-json` for some), each followed by a canary task, and report what the worker did with each; --results-timeout is the wait for each canary')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('--fixtures', '--fixtures', [CompletionResultType]::ParameterName, 'Send the catalog''s sample fixtures')
            [CompletionResult]::new('--topic-per-type', '--topic-per-type', [CompletionResultType]::ParameterName, 'One topic per event type (`email-events.{type}`) instead of one shared topic')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the events as JSON Lines instead of sending them')
            [CompletionResult]::new('--raw', '--raw', [CompletionResultType]::ParameterName, 'Send input lines as they are, unchecked, to see how consumers treat garbage')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailtest;consume' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Bootstrap servers, such as `127.0.0.1:9092`')
            [CompletionResult]::new('--brokers', '--brokers', [CompletionResultType]::ParameterName, 'Bootstrap servers, such as `127.0.0.1:9092`')
            [CompletionResult]::new('-X', '-X ', [CompletionResultType]::ParameterName, 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the broker before giving up (exit 3)')
            [CompletionResult]::new('--catalog', '--catalog', [CompletionResultType]::ParameterName, 'A catalog directory that adds or replaces event types')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Topic to read, repeatable; a pattern with `{type}` names one per catalog type [default: the config file''s `topic`, else the catalog''s topics that exist]')
            [CompletionResult]::new('--topic', '--topic', [CompletionResultType]::ParameterName, 'Topic to read, repeatable; a pattern with `{type}` names one per catalog type [default: the config file''s `topic`, else the catalog''s topics that exist]')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Where to start: beginning, end, -N (last N per partition), an offset, or @RFC3339-time')
            [CompletionResult]::new('-g', '-g', [CompletionResultType]::ParameterName, 'Join this consumer group and commit offsets (resumes where the group left off)')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Join this consumer group and commit offsets (resumes where the group left off)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Exit after printing this many messages')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Exit after printing this many messages')
            [CompletionResult]::new('--type', '--type', [CompletionResultType]::ParameterName, 'Only events of this type, repeatable')
            [CompletionResult]::new('--task', '--task', [CompletionResultType]::ParameterName, 'Only Celery tasks of this name (`app.tasks.send_welcome_email_task`), repeatable')
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Only events to this recipient address')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Only messages with this header value, repeatable')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--amqp', '--amqp', [CompletionResultType]::ParameterName, 'Read RabbitMQ queues at this AMQP URL instead of Kafka topics, without consuming: every message read goes back to its queue')
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'With --amqp: a queue to read, repeatable [default: the catalog''s Celery queues, else `celery`]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Exit once every partition is read to its end')
            [CompletionResult]::new('--exit-at-end', '--exit-at-end', [CompletionResultType]::ParameterName, 'Exit once every partition is read to its end')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'mailtest;render' {
            [CompletionResult]::new('--event', '--event', [CompletionResultType]::ParameterName, 'Render this event (JSON or YAML file, `-` for stdin) instead of a fixture')
            [CompletionResult]::new('--fixture', '--fixture', [CompletionResultType]::ParameterName, 'Which of the type''s fixtures to render [default: default, else the first]')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'What to print: subject and text, one part, the whole MIME message, or JSON')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'The gallery''s directory (created; existing files are replaced)')
            [CompletionResult]::new('--serve', '--serve', [CompletionResultType]::ParameterName, 'Serve the gallery and reload it in the browser when a template or fixture changes')
            [CompletionResult]::new('--ready-file', '--ready-file', [CompletionResultType]::ParameterName, 'With --serve: write `MAILTEST_RENDER=http://ADDR` to this file once listening')
            [CompletionResult]::new('--templates', '--templates', [CompletionResultType]::ParameterName, 'Templates directory (layout as in the built-in `templates/`) [default: built in]')
            [CompletionResult]::new('--catalog', '--catalog', [CompletionResultType]::ParameterName, 'A catalog directory that adds or replaces event types and fixtures')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Render every template with every fixture into a static gallery (needs --out)')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Lint every template with every fixture; exit 1 when there are errors')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'With --check: warnings fail too')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'mailtest;sink' {
            [CompletionResult]::new('--smtp', '--smtp', [CompletionResultType]::ParameterName, 'SMTP address to listen on [default: 127.0.0.1:1025]')
            [CompletionResult]::new('--http', '--http', [CompletionResultType]::ParameterName, 'HTTP API address [default: 127.0.0.1:8025]')
            [CompletionResult]::new('--mailpit', '--mailpit', [CompletionResultType]::ParameterName, 'Also serve Mailpit''s API (v1) on this address, so suites written for Mailpit run unchanged with this as their base URL')
            [CompletionResult]::new('--enable-spamassassin', '--enable-spamassassin', [CompletionResultType]::ParameterName, 'Score messages with this SpamAssassin daemon (`HOST:PORT` of `spamd`, or `unix:/path`): Mailpit''s `sa-check` route and the inbox''s spam tab, as Mailpit''s flag')
            [CompletionResult]::new('--provider-key', '--provider-key', [CompletionResultType]::ParameterName, 'Accept only this key on the providers'' send APIs (SendGrid, SES, ...), under this name (which becomes the mailbox of what it sends), repeatable; default: any key')
            [CompletionResult]::new('--mailhog', '--mailhog', [CompletionResultType]::ParameterName, 'Also serve MailHog''s API (v1 and v2) on this address, for suites written for MailHog')
            [CompletionResult]::new('--api-token', '--api-token', [CompletionResultType]::ParameterName, 'Require this token on the API (`Authorization: Bearer <token>`)')
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Store directory [default: .mailtest/store]')
            [CompletionResult]::new('--retain-count', '--retain-count', [CompletionResultType]::ParameterName, 'Keep at most this many messages (the oldest go first; evictions are counted)')
            [CompletionResult]::new('--retain-age', '--retain-age', [CompletionResultType]::ParameterName, 'Keep no message older than this, such as `24h`')
            [CompletionResult]::new('--eml-dir', '--eml-dir', [CompletionResultType]::ParameterName, 'Also keep every message as `DIR/<id>.eml`, for mail clients and tools that read files (files of deleted or evicted messages are removed)')
            [CompletionResult]::new('--max-size', '--max-size', [CompletionResultType]::ParameterName, 'Largest message accepted, such as `25MB` (larger ones get 552) [default: 25MiB]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Sessions at once; more are told 421')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'How long a client may stay silent')
            [CompletionResult]::new('--hostname', '--hostname', [CompletionResultType]::ParameterName, 'The name the server greets with')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Offer STARTTLS with this PEM certificate chain (with --tls-key)')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'The PEM private key for --tls-cert')
            [CompletionResult]::new('--auth-users', '--auth-users', [CompletionResultType]::ParameterName, 'Accept only these AUTH credentials (`user:password,...`); default: anyone')
            [CompletionResult]::new('--bare-lf', '--bare-lf', [CompletionResultType]::ParameterName, 'What a line ending in a bare LF gets: `keep` stores the message byte for byte and flags it (`bare_lf`); `reject` answers 550 and closes, as postfix''s `smtpd_forbid_bare_newline = yes`')
            [CompletionResult]::new('--release-to', '--release-to', [CompletionResultType]::ParameterName, 'A server the API may release captured mail to, as `NAME=smtp://[user:pass@]host:port` with `?tls=none|opportunistic|required` and `&insecure=true`; repeatable. Without one, nothing can leave the sink')
            [CompletionResult]::new('--release-allow', '--release-allow', [CompletionResultType]::ParameterName, 'Recipients (a regular expression over the whole address) a message may be released to besides its own envelope recipients')
            [CompletionResult]::new('--faults', '--faults', [CompletionResultType]::ParameterName, 'Scripted faults (YAML rules); replaceable at runtime through the API')
            [CompletionResult]::new('--allow-host', '--allow-host', [CompletionResultType]::ParameterName, 'Also answer API requests for this `Host` name (besides loopback names and the `--http` host); refused otherwise, against DNS rebinding')
            [CompletionResult]::new('--ready-file', '--ready-file', [CompletionResultType]::ParameterName, 'Write `MAILTEST_SMTP=<addr>` and `MAILTEST_HTTP=<url>` to this file once listening (shell-sourceable)')
            [CompletionResult]::new('--capture-topic', '--capture-topic', [CompletionResultType]::ParameterName, 'Be a replica: write every accepted message to this Kafka topic and answer 250 only once the broker acknowledged it (451 otherwise). The local store is then a cache, in memory unless --store is given')
            [CompletionResult]::new('--from-topic', '--from-topic', [CompletionResultType]::ParameterName, 'Be a reader: build the store from this topic (the mail of every replica), and capture this sink''s own mail into it too')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Kafka bootstrap servers of the capture topic [default: 127.0.0.1:9092]')
            [CompletionResult]::new('--brokers', '--brokers', [CompletionResultType]::ParameterName, 'Kafka bootstrap servers of the capture topic [default: 127.0.0.1:9092]')
            [CompletionResult]::new('-X', '-X ', [CompletionResultType]::ParameterName, 'A librdkafka property for the capture log''s clients, repeatable')
            [CompletionResult]::new('--capture-timeout', '--capture-timeout', [CompletionResultType]::ParameterName, 'How long a message may wait for the broker''s acknowledgement before its client is told 451')
            [CompletionResult]::new('--replica-name', '--replica-name', [CompletionResultType]::ParameterName, 'This replica''s name in its records [default: the host name and SMTP port]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('--allow-internal-http-requests', '--allow-internal-http-requests', [CompletionResultType]::ParameterName, 'Let Mailpit''s link check request loopback and private addresses (refused by default, so a message cannot make the sink reach into its network), as Mailpit''s own flag')
            [CompletionResult]::new('--enable-chaos', '--enable-chaos', [CompletionResultType]::ParameterName, 'Let Mailpit''s chaos API (`/api/v1/chaos`) set fault rules, as Mailpit''s own flag')
            [CompletionResult]::new('--memory', '--memory', [CompletionResultType]::ParameterName, 'Keep messages in memory only (nothing survives a restart)')
            [CompletionResult]::new('--fsync', '--fsync', [CompletionResultType]::ParameterName, 'Also sync every acknowledged message to disk, in batches (survives power loss)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Offer STARTTLS with a self-signed certificate made at start')
            [CompletionResult]::new('--auth-required', '--auth-required', [CompletionResultType]::ParameterName, 'Refuse mail (530) until the client authenticates')
            [CompletionResult]::new('--no-auth', '--no-auth', [CompletionResultType]::ParameterName, 'Do not offer AUTH')
            [CompletionResult]::new('--auth-before-tls', '--auth-before-tls', [CompletionResultType]::ParameterName, 'Offer AUTH before STARTTLS too (with TLS on, AUTH is offered only after it)')
            [CompletionResult]::new('--allow-remote', '--allow-remote', [CompletionResultType]::ParameterName, 'Allow listening on an address other than loopback (the API then answers to any `Host` name)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the messages in a store, oldest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print one stored message exactly as received')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Write stored messages as `.eml` files, for any mail client or tool')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailtest;sink;list' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Store directory [default: .mailtest/store]')
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Only messages to this address (envelope or `To`)')
            [CompletionResult]::new('--mailbox', '--mailbox', [CompletionResultType]::ParameterName, 'Only messages in this mailbox (test run)')
            [CompletionResult]::new('--subject', '--subject', [CompletionResultType]::ParameterName, 'Only messages whose subject contains this')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Only messages with this header (`Name`) or whose header contains a value (`Name: text`)')
            [CompletionResult]::new('--text', '--text', [CompletionResultType]::ParameterName, 'Only messages whose subject or decoded text or HTML contains this')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Listing format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailtest;sink;show' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Store directory [default: .mailtest/store]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailtest;sink;export' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Store directory [default: .mailtest/store]')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Folder to write `<id>.eml` files into (created if missing)')
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Only messages to this address (envelope or `To`)')
            [CompletionResult]::new('--mailbox', '--mailbox', [CompletionResultType]::ParameterName, 'Only messages in this mailbox (test run)')
            [CompletionResult]::new('--subject', '--subject', [CompletionResultType]::ParameterName, 'Only messages whose subject contains this')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Only messages with this header (`Name`) or whose header contains a value (`Name: text`)')
            [CompletionResult]::new('--text', '--text', [CompletionResultType]::ParameterName, 'Only messages whose subject or decoded text or HTML contains this')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailtest;sink;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the messages in a store, oldest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print one stored message exactly as received')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Write stored messages as `.eml` files, for any mail client or tool')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailtest;sink;help;list' {
            break
        }
        'mailtest;sink;help;show' {
            break
        }
        'mailtest;sink;help;export' {
            break
        }
        'mailtest;sink;help;help' {
            break
        }
        'mailtest;verify' {
            [CompletionResult]::new('--sink', '--sink', [CompletionResultType]::ParameterName, 'A running sink''s HTTP API [default: `http://127.0.0.1:8025`]')
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'A store directory instead of a running sink (checked once, no waiting)')
            [CompletionResult]::new('--capture-topic', '--capture-topic', [CompletionResultType]::ParameterName, 'Read the mail from this capture topic (where `sink --capture-topic` replicas write), to its end, with -b and -X')
            [CompletionResult]::new('--eml', '--eml', [CompletionResultType]::ParameterName, '`.eml` files or Maildir folders instead of a sink (checked once, no waiting)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the expectations, overriding the file''s `timeout`')
            [CompletionResult]::new('--mailbox', '--mailbox', [CompletionResultType]::ParameterName, 'Only mail of this mailbox (test run), overriding the file''s `mailbox`')
            [CompletionResult]::new('--var', '--var', [CompletionResultType]::ParameterName, 'Set a variable for `{{ name }}` placeholders (repeatable), overriding the file''s `vars`')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'The report: a table, or JSON with every verdict and extracted value')
            [CompletionResult]::new('--junit', '--junit', [CompletionResultType]::ParameterName, 'Also write the report as JUnit XML to this file')
            [CompletionResult]::new('--api-token', '--api-token', [CompletionResultType]::ParameterName, 'The sink''s API token')
            [CompletionResult]::new('--templates', '--templates', [CompletionResultType]::ParameterName, 'Templates for `matches_render` [default: built in]')
            [CompletionResult]::new('--catalog', '--catalog', [CompletionResultType]::ParameterName, 'A catalog directory for `matches_render` fixtures, formats and templates')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Kafka, for `matches_render` with `from: kafka` (the events behind the mail)')
            [CompletionResult]::new('--brokers', '--brokers', [CompletionResultType]::ParameterName, 'Kafka, for `matches_render` with `from: kafka` (the events behind the mail)')
            [CompletionResult]::new('-X', '-X ', [CompletionResultType]::ParameterName, 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)')
            [CompletionResult]::new('--topic', '--topic', [CompletionResultType]::ParameterName, 'The topics holding those events, repeatable; `{type}` patterns allowed [default: the catalog''s topics]')
            [CompletionResult]::new('--spamassassin', '--spamassassin', [CompletionResultType]::ParameterName, 'The SpamAssassin daemon that scores mail for `spam_check` (`HOST:PORT` of `spamd`, or `unix:/path`)')
            [CompletionResult]::new('--celery-results', '--celery-results', [CompletionResultType]::ParameterName, 'Celery''s Redis result backend (`redis://host:port/db`), for the file''s `celery:` task states')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Run again each time mail arrives, until Ctrl-C (a live sink only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailtest;dispatch' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Bootstrap servers, such as `127.0.0.1:9092`')
            [CompletionResult]::new('--brokers', '--brokers', [CompletionResultType]::ParameterName, 'Bootstrap servers, such as `127.0.0.1:9092`')
            [CompletionResult]::new('-X', '-X ', [CompletionResultType]::ParameterName, 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the broker before giving up (exit 3)')
            [CompletionResult]::new('--catalog', '--catalog', [CompletionResultType]::ParameterName, 'A catalog directory that adds or replaces event types')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'The consumer group; processes in one group share the partitions [default: mailtest-dispatch]')
            [CompletionResult]::new('--topic', '--topic', [CompletionResultType]::ParameterName, 'Topics to consume, repeatable; a pattern with `{type}` names one per catalog type [default: the config file''s `topic`, else `email-events` and `email-events.{type}`]')
            [CompletionResult]::new('--dlq-topic', '--dlq-topic', [CompletionResultType]::ParameterName, 'Where events that can never be sent go, with the reason in headers')
            [CompletionResult]::new('--smtp', '--smtp', [CompletionResultType]::ParameterName, 'The SMTP server to send through [default: the config file''s `dispatch.smtp` or `sink.smtp`, else 127.0.0.1:1025]')
            [CompletionResult]::new('--fallback-smtp', '--fallback-smtp', [CompletionResultType]::ParameterName, 'A second SMTP server, used when the first stays unreachable')
            [CompletionResult]::new('--smtp-tls', '--smtp-tls', [CompletionResultType]::ParameterName, 'TLS towards the SMTP servers')
            [CompletionResult]::new('--smtp-user', '--smtp-user', [CompletionResultType]::ParameterName, 'AUTH user for the SMTP servers')
            [CompletionResult]::new('--smtp-password', '--smtp-password', [CompletionResultType]::ParameterName, 'AUTH password')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Emails in flight at once per partition; events for one recipient stay in order')
            [CompletionResult]::new('--max-attempts', '--max-attempts', [CompletionResultType]::ParameterName, 'Attempts per email before it is dead-lettered (temporary failures only)')
            [CompletionResult]::new('--retry-base', '--retry-base', [CompletionResultType]::ParameterName, 'The first retry delay; each next one doubles (with jitter), up to 10 s')
            [CompletionResult]::new('--templates', '--templates', [CompletionResultType]::ParameterName, 'Templates directory [default: built in]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where the ids of sent events are kept (one process per directory)')
            [CompletionResult]::new('--http', '--http', [CompletionResultType]::ParameterName, 'Health, readiness and metrics endpoints')
            [CompletionResult]::new('--ready-file', '--ready-file', [CompletionResultType]::ParameterName, 'Write `MAILTEST_DISPATCH_HTTP=http://ADDR` to this file once running')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('--smtp-insecure', '--smtp-insecure', [CompletionResultType]::ParameterName, 'Accept any TLS certificate (a test server''s self-signed one)')
            [CompletionResult]::new('--no-state', '--no-state', [CompletionResultType]::ParameterName, 'Keep sent ids in memory only (a restart may send again)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'mailtest;smoke' {
            [CompletionResult]::new('--scenario', '--scenario', [CompletionResultType]::ParameterName, 'The scenario: events to produce and expectations to meet [default: every fixture of every event type, `fixtures/scenarios/default.yaml`]')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Bootstrap servers, such as `127.0.0.1:9092`')
            [CompletionResult]::new('--brokers', '--brokers', [CompletionResultType]::ParameterName, 'Bootstrap servers, such as `127.0.0.1:9092`')
            [CompletionResult]::new('-X', '-X ', [CompletionResultType]::ParameterName, 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the broker before giving up (exit 3)')
            [CompletionResult]::new('--catalog', '--catalog', [CompletionResultType]::ParameterName, 'A catalog directory that adds or replaces event types')
            [CompletionResult]::new('--smtp-listen', '--smtp-listen', [CompletionResultType]::ParameterName, 'The sink''s SMTP address [default: a free loopback port; `127.0.0.1:1025` with --no-dispatch]')
            [CompletionResult]::new('--http-listen', '--http-listen', [CompletionResultType]::ParameterName, 'The sink''s API address [default: a free loopback port]')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Produce to this topic, or to a topic per type named by a pattern with `{type}` (`{type}`, `events.{type}`) [default: the config file''s `topic`, else `email-events`]')
            [CompletionResult]::new('--topic', '--topic', [CompletionResultType]::ParameterName, 'Produce to this topic, or to a topic per type named by a pattern with `{type}` (`{type}`, `events.{type}`) [default: the config file''s `topic`, else `email-events`]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to wait for the mail [default: the scenario''s `timeout`, else 30s]')
            [CompletionResult]::new('--var', '--var', [CompletionResultType]::ParameterName, 'Set a variable for the scenario''s `{{ name }}` placeholders (repeatable)')
            [CompletionResult]::new('--templates', '--templates', [CompletionResultType]::ParameterName, 'Templates directory [default: built in]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Print the report as a table or as one JSON object')
            [CompletionResult]::new('--junit', '--junit', [CompletionResultType]::ParameterName, 'Also write the verification as JUnit XML to this file')
            [CompletionResult]::new('--ready-file', '--ready-file', [CompletionResultType]::ParameterName, 'Write `MAILTEST_BROKERS`, `MAILTEST_SMTP` and `MAILTEST_HTTP` to this file once the pipeline is up (shell-sourceable), before producing')
            [CompletionResult]::new('--worker', '--worker', [CompletionResultType]::ParameterName, 'Your service or Celery worker, a shell command started once the broker and sink are up (with their addresses in `MAILTEST_*` variables) and stopped after the run; the reference dispatcher does not run')
            [CompletionResult]::new('--celery-results', '--celery-results', [CompletionResultType]::ParameterName, 'Celery''s Redis result backend (`redis://host:port/db`): the scenario''s `celery:` task states are read there, and a started worker is ready once it runs a first task')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('--allow-remote', '--allow-remote', [CompletionResultType]::ParameterName, 'Allow --smtp-listen and --http-listen on an address other than loopback')
            [CompletionResult]::new('--no-dispatch', '--no-dispatch', [CompletionResultType]::ParameterName, 'Do not run the reference dispatcher: your own service consumes the events and sends the mail to --smtp-listen')
            [CompletionResult]::new('--topic-per-type', '--topic-per-type', [CompletionResultType]::ParameterName, 'Produce to one topic per event type (`email-events.{type}`)')
            [CompletionResult]::new('--keep', '--keep', [CompletionResultType]::ParameterName, 'Leave the broker, sink and dispatcher up after the run, until Ctrl-C')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailtest;catalog' {
            [CompletionResult]::new('--catalog', '--catalog', [CompletionResultType]::ParameterName, 'A catalog directory that adds or replaces event types')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Print the listing as JSON')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailtest;config' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print every setting from the environment, the config file (and profile) and the defaults, with its source; flags win over all of these')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailtest;config;show' {
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'A table, or one JSON object per setting')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailtest;config;help' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print every setting from the environment, the config file (and profile) and the defaults, with its source; flags win over all of these')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailtest;config;help;show' {
            break
        }
        'mailtest;config;help;help' {
            break
        }
        'mailtest;completions' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailtest;man' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; `NO_COLOR` set means never under `auto`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ./mailtest.yaml if present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Lay this profile of the config file over its other settings')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr: no progress, no summaries')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailtest;help' {
            [CompletionResult]::new('broker', 'broker', [CompletionResultType]::ParameterValue, 'Run an embedded Kafka broker (librdkafka''s mock cluster) with the catalog''s topics')
            [CompletionResult]::new('produce', 'produce', [CompletionResultType]::ParameterValue, 'Publish email events (from files, fixtures, or generated) to Kafka')
            [CompletionResult]::new('consume', 'consume', [CompletionResultType]::ParameterValue, 'Read email events from Kafka topics')
            [CompletionResult]::new('render', 'render', [CompletionResultType]::ParameterValue, 'Render email templates: previews, `.eml`, a gallery of every template, live preview, lints')
            [CompletionResult]::new('sink', 'sink', [CompletionResultType]::ParameterValue, 'Capture SMTP server with a durable store and an HTTP API (`sink list|show` read a store)')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check captured mail against YAML expectations (a live sink, a store, or .eml files)')
            [CompletionResult]::new('dispatch', 'dispatch', [CompletionResultType]::ParameterValue, 'The reference notification service: Kafka events to rendered email over SMTP')
            [CompletionResult]::new('smoke', 'smoke', [CompletionResultType]::ParameterValue, 'Run the whole pipeline in one process: broker, sink, dispatch, produce, verify')
            [CompletionResult]::new('catalog', 'catalog', [CompletionResultType]::ParameterValue, 'List the event catalog: types, their fields and fixtures')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Show the settings in effect and where each comes from')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write a man page for mailtest and each subcommand into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailtest;help;broker' {
            break
        }
        'mailtest;help;produce' {
            break
        }
        'mailtest;help;consume' {
            break
        }
        'mailtest;help;render' {
            break
        }
        'mailtest;help;sink' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the messages in a store, oldest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print one stored message exactly as received')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Write stored messages as `.eml` files, for any mail client or tool')
            break
        }
        'mailtest;help;sink;list' {
            break
        }
        'mailtest;help;sink;show' {
            break
        }
        'mailtest;help;sink;export' {
            break
        }
        'mailtest;help;verify' {
            break
        }
        'mailtest;help;dispatch' {
            break
        }
        'mailtest;help;smoke' {
            break
        }
        'mailtest;help;catalog' {
            break
        }
        'mailtest;help;config' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print every setting from the environment, the config file (and profile) and the defaults, with its source; flags win over all of these')
            break
        }
        'mailtest;help;config;show' {
            break
        }
        'mailtest;help;completions' {
            break
        }
        'mailtest;help;man' {
            break
        }
        'mailtest;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
