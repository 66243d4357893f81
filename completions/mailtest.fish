# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mailtest_global_optspecs
    string join \n v/verbose q/quiet color= config= profile= log-format= h/help V/version
end

function __fish_mailtest_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mailtest_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mailtest_using_subcommand
    set -l cmd (__fish_mailtest_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mailtest -n "__fish_mailtest_needs_command" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_needs_command" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_needs_command" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_needs_command" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_needs_command" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_needs_command" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_needs_command" -s h -l help -d 'Print help'
complete -c mailtest -n "__fish_mailtest_needs_command" -s V -l version -d 'Print version'
complete -c mailtest -n "__fish_mailtest_needs_command" -f -a "broker" -d 'Run an embedded Kafka broker (librdkafka\'s mock cluster) with the catalog\'s topics'
complete -c mailtest -n "__fish_mailtest_needs_command" -f -a "produce" -d 'Publish email events (from files, fixtures, or generated) to Kafka'
complete -c mailtest -n "__fish_mailtest_needs_command" -f -a "consume" -d 'Read email events from Kafka topics'
complete -c mailtest -n "__fish_mailtest_needs_command" -f -a "render" -d 'Render email templates: previews, `.eml`, a gallery of every template, live preview, lints'
complete -c mailtest -n "__fish_mailtest_needs_command" -f -a "sink" -d 'Capture SMTP server with a durable store and an HTTP API (`sink list|show` read a store)'
complete -c mailtest -n "__fish_mailtest_needs_command" -f -a "verify" -d 'Check captured mail against YAML expectations (a live sink, a store, or .eml files)'
complete -c mailtest -n "__fish_mailtest_needs_command" -f -a "dispatch" -d 'The reference notification service: Kafka events to rendered email over SMTP'
complete -c mailtest -n "__fish_mailtest_needs_command" -f -a "smoke" -d 'Run the whole pipeline in one process: broker, sink, dispatch, produce, verify'
complete -c mailtest -n "__fish_mailtest_needs_command" -f -a "catalog" -d 'List the event catalog: types, their fields and fixtures'
complete -c mailtest -n "__fish_mailtest_needs_command" -f -a "config" -d 'Show the settings in effect and where each comes from'
complete -c mailtest -n "__fish_mailtest_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c mailtest -n "__fish_mailtest_needs_command" -f -a "man" -d 'Write a man page for mailtest and each subcommand into a directory'
complete -c mailtest -n "__fish_mailtest_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailtest -n "__fish_mailtest_using_subcommand broker" -l brokers -d 'Number of brokers in the cluster' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand broker" -l partitions -d 'Partitions of each topic created' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand broker" -l listen -d 'Serve the first broker on this address (the next brokers on the following ports)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand broker" -l group-join-delay -d 'How long a new consumer group waits for more members before its first assignment (Kafka\'s `group.initial.rebalance.delay.ms`; brokers default to 3s)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand broker" -l ready-file -d 'Write the bootstrap address to this file once the broker is ready' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand broker" -s t -l topic -d 'More topics to create, repeatable; a pattern with `{type}` names one per catalog type (`{type}` for topics named after the types)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand broker" -l catalog -d 'A catalog directory whose types also get topics' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand broker" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand broker" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand broker" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand broker" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand broker" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand broker" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand broker" -s h -l help -d 'Print help'
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -s b -l brokers -d 'Bootstrap servers, such as `127.0.0.1:9092`' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -s X -d 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l timeout -d 'How long to wait for the broker before giving up (exit 3)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l catalog -d 'A catalog directory that adds or replaces event types' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l type -d 'Only these event types (generated or fixtures), repeatable' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -s n -l count -d 'How many events to send; input is repeated, with fresh event ids, to reach it' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l rate -d 'Events per second (default: as fast as the broker takes them)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l seed -d 'Seed for generated events: the same seed gives the same events and event ids' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -s t -l topic -d 'Send every event to this topic, or to a topic per type named by a pattern with `{type}`: `email-events.{type}`, or `{type}` for topics named after the types' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l header -d 'An extra header on every message, repeatable' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l output -d 'Summary format on stdout (text goes to stderr)' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l fallback-smtp -d 'When Kafka cannot be reached, render each event and send it straight to this SMTP server instead (as services that fall back on direct mail do)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l templates -d 'Templates for --fallback-smtp [default: built in]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l amqp -d 'Send the Celery tasks of a catalog with `celery.yaml` to RabbitMQ at this AMQP URL (`amqp://user:pass@host:5672/vhost`) instead of Kafka, with publisher confirms' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l celery-results -d 'With a catalog whose `celery.yaml` makes events Celery tasks: wait for every task\'s result in this Redis result backend (`redis://host:port/db`) and report the states' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l results-timeout -d 'How long to wait for the tasks\' results after the last is sent' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l poison -d 'Robustness mode: send malformed Celery tasks made from one of the catalog\'s (`--poison` for every case, `--poison=no-id,bad-json` for some), each followed by a canary task, and report what the worker did with each; --results-timeout is the wait for each canary' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l fixtures -d 'Send the catalog\'s sample fixtures'
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l topic-per-type -d 'One topic per event type (`email-events.{type}`) instead of one shared topic'
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l dry-run -d 'Print the events as JSON Lines instead of sending them'
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -l raw -d 'Send input lines as they are, unchecked, to see how consumers treat garbage'
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand produce" -s h -l help -d 'Print help'
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -s b -l brokers -d 'Bootstrap servers, such as `127.0.0.1:9092`' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -s X -d 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -l timeout -d 'How long to wait for the broker before giving up (exit 3)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -l catalog -d 'A catalog directory that adds or replaces event types' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -s t -l topic -d 'Topic to read, repeatable; a pattern with `{type}` names one per catalog type [default: the config file\'s `topic`, else the catalog\'s topics that exist]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -l from -d 'Where to start: beginning, end, -N (last N per partition), an offset, or @RFC3339-time' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -s g -l group -d 'Join this consumer group and commit offsets (resumes where the group left off)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -s n -l count -d 'Exit after printing this many messages' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -l type -d 'Only events of this type, repeatable' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -l task -d 'Only Celery tasks of this name (`app.tasks.send_welcome_email_task`), repeatable' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -l to -d 'Only events to this recipient address' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -l header -d 'Only messages with this header value, repeatable' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -s f -l format -d 'Output format' -r -f -a "pretty\t'Readable, with a header line per message'
json\t'One JSON object per line, accepted back by `produce`'
raw\t'The payload bytes alone, one message per line'"
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -l amqp -d 'Read RabbitMQ queues at this AMQP URL instead of Kafka topics, without consuming: every message read goes back to its queue' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -l queue -d 'With --amqp: a queue to read, repeatable [default: the catalog\'s Celery queues, else `celery`]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -s e -l exit-at-end -d 'Exit once every partition is read to its end'
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand consume" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l event -d 'Render this event (JSON or YAML file, `-` for stdin) instead of a fixture' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l fixture -d 'Which of the type\'s fixtures to render [default: default, else the first]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l format -d 'What to print: subject and text, one part, the whole MIME message, or JSON' -r -f -a "summary\t'Subject, preheader, recipient, then the text part'
subject\t'The subject line alone'
html\t'The HTML part, CSS inlined'
text\t'The text part'
eml\t'The complete MIME message as it would be sent'
json\t'Every part as one JSON object (with --check: one finding per line)'"
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l out -d 'The gallery\'s directory (created; existing files are replaced)' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l serve -d 'Serve the gallery and reload it in the browser when a template or fixture changes' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l ready-file -d 'With --serve: write `MAILTEST_RENDER=http://ADDR` to this file once listening' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l templates -d 'Templates directory (layout as in the built-in `templates/`) [default: built in]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l catalog -d 'A catalog directory that adds or replaces event types and fixtures' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l all -d 'Render every template with every fixture into a static gallery (needs --out)'
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l check -d 'Lint every template with every fixture; exit 1 when there are errors'
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -l strict -d 'With --check: warnings fail too'
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand render" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l smtp -d 'SMTP address to listen on [default: 127.0.0.1:1025]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l http -d 'HTTP API address [default: 127.0.0.1:8025]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l mailpit -d 'Also serve Mailpit\'s API (v1) on this address, so suites written for Mailpit run unchanged with this as their base URL' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l enable-spamassassin -d 'Score messages with this SpamAssassin daemon (`HOST:PORT` of `spamd`, or `unix:/path`): Mailpit\'s `sa-check` route and the inbox\'s spam tab, as Mailpit\'s flag' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l provider-key -d 'Accept only this key on the providers\' send APIs (SendGrid, SES, ...), under this name (which becomes the mailbox of what it sends), repeatable; default: any key' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l mailhog -d 'Also serve MailHog\'s API (v1 and v2) on this address, for suites written for MailHog' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l api-token -d 'Require this token on the API (`Authorization: Bearer <token>`)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l store -d 'Store directory [default: .mailtest/store]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l retain-count -d 'Keep at most this many messages (the oldest go first; evictions are counted)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l retain-age -d 'Keep no message older than this, such as `24h`' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l eml-dir -d 'Also keep every message as `DIR/<id>.eml`, for mail clients and tools that read files (files of deleted or evicted messages are removed)' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l max-size -d 'Largest message accepted, such as `25MB` (larger ones get 552) [default: 25MiB]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l max-connections -d 'Sessions at once; more are told 421' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l idle-timeout -d 'How long a client may stay silent' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l hostname -d 'The name the server greets with' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l tls-cert -d 'Offer STARTTLS with this PEM certificate chain (with --tls-key)' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l tls-key -d 'The PEM private key for --tls-cert' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l auth-users -d 'Accept only these AUTH credentials (`user:password,...`); default: anyone' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l bare-lf -d 'What a line ending in a bare LF gets: `keep` stores the message byte for byte and flags it (`bare_lf`); `reject` answers 550 and closes, as postfix\'s `smtpd_forbid_bare_newline = yes`' -r -f -a "keep\t''
reject\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l release-to -d 'A server the API may release captured mail to, as `NAME=smtp://[user:pass@]host:port` with `?tls=none|opportunistic|required` and `&insecure=true`; repeatable. Without one, nothing can leave the sink' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l release-allow -d 'Recipients (a regular expression over the whole address) a message may be released to besides its own envelope recipients' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l faults -d 'Scripted faults (YAML rules); replaceable at runtime through the API' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l allow-host -d 'Also answer API requests for this `Host` name (besides loopback names and the `--http` host); refused otherwise, against DNS rebinding' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l ready-file -d 'Write `MAILTEST_SMTP=<addr>` and `MAILTEST_HTTP=<url>` to this file once listening (shell-sourceable)' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l capture-topic -d 'Be a replica: write every accepted message to this Kafka topic and answer 250 only once the broker acknowledged it (451 otherwise). The local store is then a cache, in memory unless --store is given' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l from-topic -d 'Be a reader: build the store from this topic (the mail of every replica), and capture this sink\'s own mail into it too' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -s b -l brokers -d 'Kafka bootstrap servers of the capture topic [default: 127.0.0.1:9092]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -s X -d 'A librdkafka property for the capture log\'s clients, repeatable' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l capture-timeout -d 'How long a message may wait for the broker\'s acknowledgement before its client is told 451' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l replica-name -d 'This replica\'s name in its records [default: the host name and SMTP port]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l allow-internal-http-requests -d 'Let Mailpit\'s link check request loopback and private addresses (refused by default, so a message cannot make the sink reach into its network), as Mailpit\'s own flag'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l enable-chaos -d 'Let Mailpit\'s chaos API (`/api/v1/chaos`) set fault rules, as Mailpit\'s own flag'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l memory -d 'Keep messages in memory only (nothing survives a restart)'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l fsync -d 'Also sync every acknowledged message to disk, in batches (survives power loss)'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l tls -d 'Offer STARTTLS with a self-signed certificate made at start'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l auth-required -d 'Refuse mail (530) until the client authenticates'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l no-auth -d 'Do not offer AUTH'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l auth-before-tls -d 'Offer AUTH before STARTTLS too (with TLS on, AUTH is offered only after it)'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -l allow-remote -d 'Allow listening on an address other than loopback (the API then answers to any `Host` name)'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -s h -l help -d 'Print help'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -f -a "list" -d 'List the messages in a store, oldest first'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -f -a "show" -d 'Print one stored message exactly as received'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -f -a "export" -d 'Write stored messages as `.eml` files, for any mail client or tool'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and not __fish_seen_subcommand_from list show export help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from list" -l store -d 'Store directory [default: .mailtest/store]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from list" -l to -d 'Only messages to this address (envelope or `To`)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from list" -l mailbox -d 'Only messages in this mailbox (test run)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from list" -l subject -d 'Only messages whose subject contains this' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from list" -l header -d 'Only messages with this header (`Name`) or whose header contains a value (`Name: text`)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from list" -l text -d 'Only messages whose subject or decoded text or HTML contains this' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from list" -l output -d 'Listing format' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from list" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from list" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from list" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from list" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from show" -l store -d 'Store directory [default: .mailtest/store]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from show" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from show" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from show" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from show" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from export" -l store -d 'Store directory [default: .mailtest/store]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from export" -l out -d 'Folder to write `<id>.eml` files into (created if missing)' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from export" -l to -d 'Only messages to this address (envelope or `To`)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from export" -l mailbox -d 'Only messages in this mailbox (test run)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from export" -l subject -d 'Only messages whose subject contains this' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from export" -l header -d 'Only messages with this header (`Name`) or whose header contains a value (`Name: text`)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from export" -l text -d 'Only messages whose subject or decoded text or HTML contains this' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from export" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from export" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from export" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from export" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from export" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from export" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the messages in a store, oldest first'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print one stored message exactly as received'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from help" -f -a "export" -d 'Write stored messages as `.eml` files, for any mail client or tool'
complete -c mailtest -n "__fish_mailtest_using_subcommand sink; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l sink -d 'A running sink\'s HTTP API [default: `http://127.0.0.1:8025`]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l store -d 'A store directory instead of a running sink (checked once, no waiting)' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l capture-topic -d 'Read the mail from this capture topic (where `sink --capture-topic` replicas write), to its end, with -b and -X' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l eml -d '`.eml` files or Maildir folders instead of a sink (checked once, no waiting)' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l timeout -d 'How long to wait for the expectations, overriding the file\'s `timeout`' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l mailbox -d 'Only mail of this mailbox (test run), overriding the file\'s `mailbox`' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l var -d 'Set a variable for `{{ name }}` placeholders (repeatable), overriding the file\'s `vars`' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l output -d 'The report: a table, or JSON with every verdict and extracted value' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l junit -d 'Also write the report as JUnit XML to this file' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l api-token -d 'The sink\'s API token' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l templates -d 'Templates for `matches_render` [default: built in]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l catalog -d 'A catalog directory for `matches_render` fixtures, formats and templates' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -s b -l brokers -d 'Kafka, for `matches_render` with `from: kafka` (the events behind the mail)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -s X -d 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l topic -d 'The topics holding those events, repeatable; `{type}` patterns allowed [default: the catalog\'s topics]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l spamassassin -d 'The SpamAssassin daemon that scores mail for `spam_check` (`HOST:PORT` of `spamd`, or `unix:/path`)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l celery-results -d 'Celery\'s Redis result backend (`redis://host:port/db`), for the file\'s `celery:` task states' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -l watch -d 'Run again each time mail arrives, until Ctrl-C (a live sink only)'
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand verify" -s h -l help -d 'Print help'
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -s b -l brokers -d 'Bootstrap servers, such as `127.0.0.1:9092`' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -s X -d 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l timeout -d 'How long to wait for the broker before giving up (exit 3)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l catalog -d 'A catalog directory that adds or replaces event types' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l group -d 'The consumer group; processes in one group share the partitions [default: mailtest-dispatch]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l topic -d 'Topics to consume, repeatable; a pattern with `{type}` names one per catalog type [default: the config file\'s `topic`, else `email-events` and `email-events.{type}`]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l dlq-topic -d 'Where events that can never be sent go, with the reason in headers' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l smtp -d 'The SMTP server to send through [default: the config file\'s `dispatch.smtp` or `sink.smtp`, else 127.0.0.1:1025]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l fallback-smtp -d 'A second SMTP server, used when the first stays unreachable' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l smtp-tls -d 'TLS towards the SMTP servers' -r -f -a "none\t'Plain SMTP'
opportunistic\t'STARTTLS when offered'
required\t'STARTTLS or fail'"
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l smtp-user -d 'AUTH user for the SMTP servers' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l smtp-password -d 'AUTH password' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l concurrency -d 'Emails in flight at once per partition; events for one recipient stay in order' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l max-attempts -d 'Attempts per email before it is dead-lettered (temporary failures only)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l retry-base -d 'The first retry delay; each next one doubles (with jitter), up to 10 s' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l templates -d 'Templates directory [default: built in]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l state -d 'Where the ids of sent events are kept (one process per directory)' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l http -d 'Health, readiness and metrics endpoints' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l ready-file -d 'Write `MAILTEST_DISPATCH_HTTP=http://ADDR` to this file once running' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l smtp-insecure -d 'Accept any TLS certificate (a test server\'s self-signed one)'
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -l no-state -d 'Keep sent ids in memory only (a restart may send again)'
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand dispatch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l scenario -d 'The scenario: events to produce and expectations to meet [default: every fixture of every event type, `fixtures/scenarios/default.yaml`]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -s b -l brokers -d 'Bootstrap servers, such as `127.0.0.1:9092`' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -s X -d 'A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l timeout -d 'How long to wait for the broker before giving up (exit 3)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l catalog -d 'A catalog directory that adds or replaces event types' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l smtp-listen -d 'The sink\'s SMTP address [default: a free loopback port; `127.0.0.1:1025` with --no-dispatch]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l http-listen -d 'The sink\'s API address [default: a free loopback port]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -s t -l topic -d 'Produce to this topic, or to a topic per type named by a pattern with `{type}` (`{type}`, `events.{type}`) [default: the config file\'s `topic`, else `email-events`]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l wait -d 'How long to wait for the mail [default: the scenario\'s `timeout`, else 30s]' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l var -d 'Set a variable for the scenario\'s `{{ name }}` placeholders (repeatable)' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l templates -d 'Templates directory [default: built in]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l output -d 'Print the report as a table or as one JSON object' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l junit -d 'Also write the verification as JUnit XML to this file' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l ready-file -d 'Write `MAILTEST_BROKERS`, `MAILTEST_SMTP` and `MAILTEST_HTTP` to this file once the pipeline is up (shell-sourceable), before producing' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l worker -d 'Your service or Celery worker, a shell command started once the broker and sink are up (with their addresses in `MAILTEST_*` variables) and stopped after the run; the reference dispatcher does not run' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l celery-results -d 'Celery\'s Redis result backend (`redis://host:port/db`): the scenario\'s `celery:` task states are read there, and a started worker is ready once it runs a first task' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l allow-remote -d 'Allow --smtp-listen and --http-listen on an address other than loopback'
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l no-dispatch -d 'Do not run the reference dispatcher: your own service consumes the events and sends the mail to --smtp-listen'
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l topic-per-type -d 'Produce to one topic per event type (`email-events.{type}`)'
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -l keep -d 'Leave the broker, sink and dispatcher up after the run, until Ctrl-C'
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand smoke" -s h -l help -d 'Print help'
complete -c mailtest -n "__fish_mailtest_using_subcommand catalog" -l catalog -d 'A catalog directory that adds or replaces event types' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand catalog" -l output -d 'Print the listing as JSON' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand catalog" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand catalog" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand catalog" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand catalog" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand catalog" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand catalog" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand catalog" -s h -l help -d 'Print help'
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and not __fish_seen_subcommand_from show help" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and not __fish_seen_subcommand_from show help" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and not __fish_seen_subcommand_from show help" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and not __fish_seen_subcommand_from show help" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and not __fish_seen_subcommand_from show help" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and not __fish_seen_subcommand_from show help" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and not __fish_seen_subcommand_from show help" -s h -l help -d 'Print help'
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and not __fish_seen_subcommand_from show help" -f -a "show" -d 'Print every setting from the environment, the config file (and profile) and the defaults, with its source; flags win over all of these'
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and not __fish_seen_subcommand_from show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and __fish_seen_subcommand_from show" -l output -d 'A table, or one JSON object per setting' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and __fish_seen_subcommand_from show" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and __fish_seen_subcommand_from show" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and __fish_seen_subcommand_from show" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and __fish_seen_subcommand_from show" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print every setting from the environment, the config file (and profile) and the defaults, with its source; flags win over all of these'
complete -c mailtest -n "__fish_mailtest_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailtest -n "__fish_mailtest_using_subcommand completions" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand completions" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand completions" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand completions" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand completions" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand completions" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand completions" -s h -l help -d 'Print help'
complete -c mailtest -n "__fish_mailtest_using_subcommand man" -l color -d 'When to use colour; `NO_COLOR` set means never under `auto`' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand man" -l config -d 'Config file [default: ./mailtest.yaml if present]' -r -F
complete -c mailtest -n "__fish_mailtest_using_subcommand man" -l profile -d 'Lay this profile of the config file over its other settings' -r
complete -c mailtest -n "__fish_mailtest_using_subcommand man" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mailtest -n "__fish_mailtest_using_subcommand man" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c mailtest -n "__fish_mailtest_using_subcommand man" -s q -l quiet -d 'Only errors on stderr: no progress, no summaries'
complete -c mailtest -n "__fish_mailtest_using_subcommand man" -s h -l help -d 'Print help'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and not __fish_seen_subcommand_from broker produce consume render sink verify dispatch smoke catalog config completions man help" -f -a "broker" -d 'Run an embedded Kafka broker (librdkafka\'s mock cluster) with the catalog\'s topics'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and not __fish_seen_subcommand_from broker produce consume render sink verify dispatch smoke catalog config completions man help" -f -a "produce" -d 'Publish email events (from files, fixtures, or generated) to Kafka'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and not __fish_seen_subcommand_from broker produce consume render sink verify dispatch smoke catalog config completions man help" -f -a "consume" -d 'Read email events from Kafka topics'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and not __fish_seen_subcommand_from broker produce consume render sink verify dispatch smoke catalog config completions man help" -f -a "render" -d 'Render email templates: previews, `.eml`, a gallery of every template, live preview, lints'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and not __fish_seen_subcommand_from broker produce consume render sink verify dispatch smoke catalog config completions man help" -f -a "sink" -d 'Capture SMTP server with a durable store and an HTTP API (`sink list|show` read a store)'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and not __fish_seen_subcommand_from broker produce consume render sink verify dispatch smoke catalog config completions man help" -f -a "verify" -d 'Check captured mail against YAML expectations (a live sink, a store, or .eml files)'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and not __fish_seen_subcommand_from broker produce consume render sink verify dispatch smoke catalog config completions man help" -f -a "dispatch" -d 'The reference notification service: Kafka events to rendered email over SMTP'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and not __fish_seen_subcommand_from broker produce consume render sink verify dispatch smoke catalog config completions man help" -f -a "smoke" -d 'Run the whole pipeline in one process: broker, sink, dispatch, produce, verify'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and not __fish_seen_subcommand_from broker produce consume render sink verify dispatch smoke catalog config completions man help" -f -a "catalog" -d 'List the event catalog: types, their fields and fixtures'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and not __fish_seen_subcommand_from broker produce consume render sink verify dispatch smoke catalog config completions man help" -f -a "config" -d 'Show the settings in effect and where each comes from'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and not __fish_seen_subcommand_from broker produce consume render sink verify dispatch smoke catalog config completions man help" -f -a "completions" -d 'Print shell completions'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and not __fish_seen_subcommand_from broker produce consume render sink verify dispatch smoke catalog config completions man help" -f -a "man" -d 'Write a man page for mailtest and each subcommand into a directory'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and not __fish_seen_subcommand_from broker produce consume render sink verify dispatch smoke catalog config completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and __fish_seen_subcommand_from sink" -f -a "list" -d 'List the messages in a store, oldest first'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and __fish_seen_subcommand_from sink" -f -a "show" -d 'Print one stored message exactly as received'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and __fish_seen_subcommand_from sink" -f -a "export" -d 'Write stored messages as `.eml` files, for any mail client or tool'
complete -c mailtest -n "__fish_mailtest_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "show" -d 'Print every setting from the environment, the config file (and profile) and the defaults, with its source; flags win over all of these'
