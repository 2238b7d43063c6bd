# The providers' official clients and cloud-init, for the conformance tests (test/conformance/), and zsh and fish,
# sourced by .ci/run. Debian packages only, each installed only when missing.
apt_install() {
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq --no-install-recommends "$@" >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
  else sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null || { sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }; fi
}
missing=()
command -v hcloud >/dev/null 2>&1 || missing+=(hcloud-cli)
# Debian's python3-hcloud is for the system interpreter, which is what the test runs.
/usr/bin/python3 -c 'import hcloud' >/dev/null 2>&1 || missing+=(python3-hcloud)
command -v cloud-init >/dev/null 2>&1 || missing+=(cloud-init)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# The completion tests drive each shell's own completion (test/commands/completion-shells.test.ts).
command -v zsh >/dev/null 2>&1 || missing+=(zsh)
command -v fish >/dev/null 2>&1 || missing+=(fish)
# A host with busybox's userland (find without -printf, tar without -T): test/migrate/busybox.test.ts.
command -v busybox >/dev/null 2>&1 || missing+=(busybox)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt_install "${missing[@]}"
fi
