# Services the tests need beyond Node (sourced by .ci/run). Each installs from Debian's packages
# only when missing.
need_pkg() {
  local bin="$1" pkg="$2"
  if ! command -v "$bin" >/dev/null 2>&1; then
    echo "installing $pkg"
    if [ "$(id -u)" = 0 ]; then apt-get install -y -qq "$pkg" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$pkg" >/dev/null; }
    else sudo apt-get install -y -qq "$pkg" >/dev/null; fi
  fi
}
# The real OpenSSH client, used by ssh/exec/logs against sandbox hosts.
need_pkg ssh openssh-client
need_pkg ssh-keygen openssh-client

# PostgreSQL server binaries for the state-store tests (pg-store, state server on Postgres).
# The tests start their own throwaway cluster (initdb into a temp dir, postgres on a free
# loopback port, socket in that dir), so nothing has to be running. initdb lives outside PATH,
# in /usr/lib/postgresql/<version>/bin. As root, postgres refuses to run, so the tests run it as
# the `postgres` system user, which the package creates; it is created here if missing.
pg_bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ ! -x "$(pg_bin_dir)/initdb" ] || [ ! -x "$(pg_bin_dir)/postgres" ]; then
  echo "installing postgresql"
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq postgresql >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }
  else sudo apt-get install -y -qq postgresql >/dev/null || { sudo apt-get update -qq && sudo apt-get install -y -qq postgresql >/dev/null; }; fi
fi
if [ "$(id -u)" = 0 ] && ! getent passwd postgres >/dev/null; then
  useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
fi
AUTOMNA_PG_BIN="$(pg_bin_dir)"
export AUTOMNA_PG_BIN
echo "postgresql: $("$AUTOMNA_PG_BIN/postgres" --version)"
