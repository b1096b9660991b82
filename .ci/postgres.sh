# Sourced by .ci/run: a PostgreSQL server for the tests' PostgreSQL variants, reached in clear
# and over TLS that verifies. Installs Debian's `postgresql` when it is missing, starts the
# newest cluster, makes the `test` database, and turns SSL on with a CA and a server
# certificate (for localhost, 127.0.0.1 and ::1) made on this machine. Exports
# BARS_TEST_POSTGRES_URL (plain), BARS_TEST_POSTGRES_CA (that CA) and BARS_REQUIRE_POSTGRES=1.
#
# Safe on a server others are using: nothing is restarted (SSL settings take effect on a
# reload, for new sessions only), the certificates are made again only when missing or about
# to expire, and plain connections keep working (pg_hba is not touched).

pg_fail() { echo "PostgreSQL: $*" >&2; exit 1; }

if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    echo "PostgreSQL is not installed: installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q postgresql openssl >/dev/null
fi
command -v openssl >/dev/null || apt-get install -y -q openssl >/dev/null
pg_version=$(ls /etc/postgresql | sort -V | tail -n 1)
[ -n "$pg_version" ] || pg_fail "no cluster under /etc/postgresql"
if ! pg_isready -q -h 127.0.0.1; then
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start 2>&1 \
        | grep -v "already running" || true
fi
for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 && break
    sleep 0.5
done
pg_isready -q -h 127.0.0.1 || pg_fail "the server did not start"

# A fresh cluster asks TCP clients for a password (this machine's may trust them): give the
# postgres role one then, through the local socket, rather than loosen pg_hba.
pg_user=postgres
if ! psql "postgresql://postgres@127.0.0.1:5432/postgres" -w -Atqc 'SELECT 1' >/dev/null 2>&1; then
    runuser -u postgres -- psql -qc "ALTER ROLE postgres PASSWORD 'bars-ci'" >/dev/null
    pg_user=postgres:bars-ci
fi
pg_admin="postgresql://$pg_user@127.0.0.1:5432/postgres"
psql "$pg_admin" -Atqc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
    || psql "$pg_admin" -qc "CREATE DATABASE test"

# TLS: a CA made here (its key is thrown away once the server certificate is signed) and a
# server certificate, in the cluster's data directory.
pg_tls=$(psql "$pg_admin" -Atqc "SHOW data_directory")/bars-ci-tls
if ! [ -s "$pg_tls/ca.crt" ] || ! openssl x509 -checkend 172800 -noout -in "$pg_tls/server.crt" >/dev/null 2>&1; then
    pg_work=$(mktemp -d)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=BaRS CI PostgreSQL CA" -keyout "$pg_work/ca.key" -out "$pg_work/ca.crt" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout "$pg_work/server.key" -out "$pg_work/server.csr" 2>/dev/null
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
        "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" >"$pg_work/server.ext"
    openssl x509 -req -in "$pg_work/server.csr" -CA "$pg_work/ca.crt" -CAkey "$pg_work/ca.key" \
        -CAcreateserial -days 30 -extfile "$pg_work/server.ext" -out "$pg_work/server.crt" 2>/dev/null
    install -d -o postgres -g postgres -m 0755 "$pg_tls"
    install -o postgres -g postgres -m 0600 "$pg_work/server.key" "$pg_tls/server.key"
    install -o postgres -g postgres -m 0644 "$pg_work/server.crt" "$pg_tls/server.crt"
    install -o postgres -g postgres -m 0644 "$pg_work/ca.crt" "$pg_tls/ca.crt"
    rm -rf "$pg_work"
fi
psql "$pg_admin" -qc "ALTER SYSTEM SET ssl = on" \
    -c "ALTER SYSTEM SET ssl_cert_file = '$pg_tls/server.crt'" \
    -c "ALTER SYSTEM SET ssl_key_file = '$pg_tls/server.key'" \
    -c "SELECT pg_reload_conf()" >/dev/null
# The reload is asynchronous: wait until a new session verifies against the new CA.
pg_verified=
for _ in $(seq 1 40); do
    if psql "$pg_admin?sslmode=verify-full&sslrootcert=$pg_tls/ca.crt" -w -Atqc \
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" 2>/dev/null | grep -q t; then
        pg_verified=1
        break
    fi
    sleep 0.25
done
[ -n "$pg_verified" ] || pg_fail "TLS with the CI certificate does not verify (see the server log)"

export BARS_TEST_POSTGRES_URL="postgres://$pg_user@127.0.0.1:5432/test"
export BARS_TEST_POSTGRES_CA="$pg_tls/ca.crt"
export BARS_REQUIRE_POSTGRES=1
echo "PostgreSQL $pg_version: plain and verify-full TLS ready (CA $BARS_TEST_POSTGRES_CA)"
