/** Entry point of the bundle (dist/mreg.mjs): runs the command and exits with its code. */
import { main } from "./main";

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
