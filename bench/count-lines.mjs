// Reads stdin until N lines have arrived, then prints the monotonic clock (ns) at the first byte
// and at the N-th newline as JSON and exits, which closes the pipe and ends the writer. A separate
// process, so counting does not compete with the sandbox's event loop in the bench process.
const want = Number(process.argv[2]);
let lines = 0;
let first;
process.stdin.on("data", (c) => {
  first ??= process.hrtime.bigint();
  for (let i = c.indexOf(10); i !== -1; i = c.indexOf(10, i + 1)) {
    if (++lines === want) {
      process.stdout.write(`${JSON.stringify({ first: String(first), last: String(process.hrtime.bigint()), lines })}\n`);
      process.exit(0);
    }
  }
});
process.stdin.on("end", () => {
  process.stdout.write(`${JSON.stringify({ first: String(first ?? 0n), last: String(process.hrtime.bigint()), lines })}\n`);
  process.exit(1);
});
