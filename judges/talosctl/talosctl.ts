// The real talosctl, built by judges/talosctl/build.sh from Talos' Go module: what ./bootstrap.sh upgrade, restart and
// node removal run (TALOSCTL) in the engine tests that drive them against the Talos node simulators.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);
const BUILD = join(__dirname, "build.sh");

let built: string | undefined;

/** The talosctl binary; fails with what to run when it is not built. */
export async function talosctlBinary(): Promise<string> {
  if (built) return built;
  const result = await execFileAsync(BUILD, ["--print-env"]).catch((e: { stderr?: string }) => {
    throw new Error(`talosctl is not built: run judges/talosctl/build.sh (${e.stderr?.trim()})`);
  });
  const line = result.stdout.split("\n").find((l) => l.startsWith("TALOSCTL="));
  if (!line) throw new Error(`judges/talosctl/build.sh --print-env printed no TALOSCTL: ${result.stdout}`);
  built = line.slice("TALOSCTL=".length);
  return built;
}
