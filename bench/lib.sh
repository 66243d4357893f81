# Helpers the bench scripts share: `source bench/lib.sh`.
# free_port: a loopback port nothing listens on now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_port PORT: returns once something listens on PORT (10 s at most, else exits).
wait_port() { for _ in $(seq 200); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.05; done; echo "nothing on port $1" >&2; exit 1; }
