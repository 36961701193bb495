// A judge's binary as its build script prints it (`<script> --print-env`: NAME=path lines), looked up once.
import { execFile } from "node:child_process";
import { relative } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);
const found = new Map<string, string>();

/** The path `build --print-env` prints as `name`; fails with what to run when `what` is not built. */
export async function builtBinary(build: string, name: string, what: string): Promise<string> {
  const key = `${build}\0${name}`;
  const cached = found.get(key);
  if (cached) return cached;
  const script = relative(`${__dirname}/..`, build);
  const result = await execFileAsync(build, ["--print-env"]).catch((e: { stderr?: string }) => {
    throw new Error(`${what} is not built: run ${script} (${e.stderr?.trim()})`);
  });
  const line = result.stdout.split("\n").find((l) => l.startsWith(`${name}=`));
  if (!line) throw new Error(`${script} --print-env printed no ${name}: ${result.stdout}`);
  const binary = line.slice(name.length + 1);
  found.set(key, binary);
  return binary;
}
