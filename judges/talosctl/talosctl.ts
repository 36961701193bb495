// The real talosctl, built by judges/talosctl/build.sh from Talos' Go module: what ./bootstrap.sh upgrade, restart and
// node removal run (TALOSCTL) in the engine tests that drive them against the Talos node simulators.
import { join } from "node:path";
import { builtBinary } from "../built-binary";

/** The talosctl binary; fails with what to run when it is not built. */
export function talosctlBinary(): Promise<string> {
  return builtBinary(join(__dirname, "build.sh"), "TALOSCTL", "talosctl");
}
