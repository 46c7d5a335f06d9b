# Shared by the bench scripts (sourced, not run): privileges, free ports, a throwaway
# PostgreSQL with pgbench tables, a Redis with a password and the gates' ACL user, and the
# head of a `ward serve` configuration with the issuer trusting itself.

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# need COMMAND PACKAGE: installs the Debian package when the command is missing.
need() { command -v "$1" >/dev/null || { as_root apt-get update -qq; as_root apt-get install -y -qq "$2"; } >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_postgres DIR PORT SCALE [MAX_CONNECTIONS]: a cluster in DIR/data (SCRAM over TCP, trust
# on its socket in DIR), role bench_svc (password bench-pw) owning database bench with pgbench
# tables at SCALE. Stop it with stop_postgres DIR.
start_postgres() {
  local dir=$1 port=$2 scale=$3 max=${4:-300}
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  echo postgres-pw > "$dir/pw"; [ "$(id -u)" = 0 ] && chown postgres "$dir/pw"
  as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile="$dir/pw" -E UTF8 --no-sync >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w start \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=$max -c shared_buffers=256MB" >/dev/null
  as_pg psql -h "$dir" -p "$port" -U postgres -qc "create role bench_svc login password 'bench-pw'" postgres
  as_pg psql -h "$dir" -p "$port" -U postgres -qc "create database bench owner bench_svc" postgres
  PGPASSWORD=bench-pw pgbench -i -s "$scale" -q -h 127.0.0.1 -p "$port" -U bench_svc bench >/dev/null 2>&1
}
stop_postgres() { as_pg "$PGBIN/pg_ctl" -D "$1/data" stop -m immediate >/dev/null 2>&1 || true; }

# start_redis DIR PORT: the default user with password direct-pw, and the gates' ACL user
# svc_cache (password cache-pw); its pid is appended to PIDS.
start_redis() {
  local dir=$1 port=$2
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --requirepass direct-pw \
    --daemonize no > "$dir/redis.log" 2>&1 & PIDS+=($!)
  for _ in $(seq 50); do redis-cli -p "$port" -a direct-pw --no-auth-warning ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$port" -a direct-pw --no-auth-warning ACL SETUSER svc_cache on '>cache-pw' '~*' '&*' '+@all' >/dev/null
}

# ward_head PORT DIR: the start of a ward.toml whose issuer on PORT trusts itself, quiet.
ward_head() {
  cat <<TOML
listen = "127.0.0.1:$1"
issuer = "http://127.0.0.1:$1"
data_dir = "$2/ward"
[log]
level = "warn"
access_log = false
[[trust]]
issuer = "http://127.0.0.1:$1"
TOML
}
