import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { expect } from "vitest";
import { runClient, type ClientFlow } from "../flow.js";

/**
 * hcloud-python (Debian `python3-hcloud`). Debian installs it for the system interpreter, so the
 * flow runs /usr/bin/python3 (a python3 earlier on PATH, such as pyenv's, would not see it). The
 * script prints one JSON document of what it saw; the assertions are here.
 */
const SCRIPT = String.raw`
import json, sys
from hcloud import Client, APIException
endpoint, token, pub = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
# The sandbox's actions take milliseconds; the default 1 s poll would make the flow wait for nothing.
c = Client(token=token, api_endpoint=endpoint, poll_interval=0.05)
seen = {}
key = c.ssh_keys.create(name="py-key", public_key=pub, labels={"team": "py"})
st, img, loc = c.server_types.get_by_name("cx22"), c.images.get_by_name("ubuntu-24.04"), c.locations.get_by_name("fsn1")
made = [c.servers.create(name="py-%d" % i, server_type=st, image=img, location=loc, ssh_keys=[key], labels={"app": "py", "n": str(i % 3)}) for i in range(27)]
for r in made[:2]:
    r.action.wait_until_finished()
    for a in r.next_actions:
        a.wait_until_finished()
seen["all"] = len(c.servers.get_all(label_selector="app=py"))
seen["in"] = len(c.servers.get_all(label_selector="app=py,n in (1,2)"))
seen["notin"] = len(c.servers.get_all(label_selector="app=py,n notin (1,2)"))
page = c.servers.get_list(label_selector="app=py", page=2, per_page=10)
seen["page2"] = [len(page.servers), page.meta.pagination.next_page, page.meta.pagination.last_page, page.meta.pagination.total_entries]
s = c.servers.get_by_name("py-1")
seen["get"] = [s.status, s.labels, s.server_type.name, s.image.name]
s.update(labels={"app": "py", "n": "1", "stage": "done"})
seen["updated"] = c.servers.get_by_id(s.id).labels
c.servers.power_off(s).wait_until_finished()
seen["off"] = c.servers.get_by_id(s.id).status
errors = {}
for name, call in [("404", lambda: c.servers.get_by_id(999)), ("422", lambda: c.servers.create(name="bad name!", server_type=st, image=img)),
                   ("401", lambda: Client(token="wrong", api_endpoint=endpoint).servers.get_all()),
                   ("409", lambda: c.ssh_keys.create(name="py-key-2", public_key=pub))]:
    try:
        call()
        errors[name] = None
    except APIException as e:
        errors[name] = e.code
seen["errors"] = errors
for a in [r.server.delete() for r in made]:
    a.wait_until_finished()
seen["left"] = len(c.servers.get_all(label_selector="app=py"))
c.ssh_keys.delete(key)
print(json.dumps(seen))
`;

export default {
  name: "hcloud-python (Debian python3-hcloud)",
  async run({ sb, dir }) {
    const keyFile = join(dir, "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "py@test", "-f", keyFile]);
    const res = await runClient("/usr/bin/python3", ["-c", SCRIPT, sb.urls.hetzner, sb.token, `${keyFile}.pub`], { HOME: dir }, "apt-get install python3-hcloud");
    expect(res.code, res.stderr).toBe(0);
    const seen = JSON.parse(res.stdout) as Record<string, unknown>;
    expect(seen).toEqual({
      all: 27, in: 18, notin: 9,
      page2: [10, 3, 3, 27],
      get: ["running", { app: "py", n: "1" }, "cx22", "ubuntu-24.04"],
      updated: { app: "py", n: "1", stage: "done" },
      off: "off",
      errors: { "404": "not_found", "422": "invalid_input", "401": "unauthorized", "409": "uniqueness_error" },
      left: 0,
    });
  },
} satisfies ClientFlow;
