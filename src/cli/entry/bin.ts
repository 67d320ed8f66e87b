/** Entry point of the bundle (dist/mreg.mjs): runs the command and exits with its code. */
import { main } from "./main";

// `mreg audit --json | head -1`: the reader went away; that is an ending, not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // main() reports every failure itself; reaching here is a bug in the CLI.
    process.stderr.write(`mreg: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
