# What the tests need beyond npm (sourced by .ci/run): the real OpenSSH client, used by ssh/exec/logs
# against sandbox hosts, installed from Debian's packages when missing. Everything else comes with
# `npm ci`: the Node the scripts run on and the PostgreSQL server the state-store tests start
# (scripts/dev-runtime).
need_pkg() {
  local bin="$1" pkg="$2"
  if ! command -v "$bin" >/dev/null 2>&1; then
    echo "installing $pkg"
    if [ "$(id -u)" = 0 ]; then apt-get install -y -qq "$pkg" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$pkg" >/dev/null; }
    else sudo apt-get install -y -qq "$pkg" >/dev/null; fi
  fi
}
need_pkg ssh openssh-client
need_pkg ssh-keygen openssh-client
# test/e2e/terminal.test.ts drives live views in a real terminal.
need_pkg tmux tmux
