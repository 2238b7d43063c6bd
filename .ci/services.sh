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
