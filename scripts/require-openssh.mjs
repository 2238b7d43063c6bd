// Runs before `npm test`, `npm run test:fast`/`test:slow` and `npm run demo` (their pre scripts): all drive the real OpenSSH client
// against the sandbox's hosts, the one thing they need that npm cannot bring. Without it the
// suite would fail test by test; this says once what is missing and how to get it.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

const onPath = (name) =>
  (process.env.PATH ?? "").split(delimiter).some((dir) => {
    try {
      accessSync(join(dir || ".", name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });

const missing = ["ssh", "ssh-keygen"].filter((name) => !onPath(name));
if (missing.length > 0) {
  const event = process.env.npm_lifecycle_event ?? "pretest";
  const command = event === "pretest" ? "npm test" : `npm run ${event.replace(/^pre/, "")}`;
  console.error(
    `${command} needs the OpenSSH client (${missing.join(", ")} not found on PATH): install it with ` +
      "`sudo apt-get install openssh-client` (Debian, Ubuntu), `sudo dnf install openssh-clients` (Fedora) or your system's package manager",
  );
  process.exitCode = 1;
}
