// After layer 00 is applied: the public half of Flux's deploy key (repository_visibility: private), for the
// user to add to the repository. Layer 00 exports it as FLUX_DEPLOY_KEY_OUTPUT (layers/persistent-auth.ts).

/** Name of layer 00's output with the public key; same as FLUX_DEPLOY_KEY_OUTPUT (a unit test keeps them equal). */
export const FLUX_DEPLOY_KEY_OUTPUT = "flux_deploy_key_public";

/** The lines to print for `<engine> output -json` of layer 00, or none when there is no deploy key. */
export function deployKeyNotice(outputsJson: string, repository?: string): string[] {
  let outputs: Record<string, { value?: unknown } | undefined>;
  try {
    outputs = JSON.parse(outputsJson) as typeof outputs;
  } catch {
    return [
      "could not read the outputs of layer 00 (not JSON); a Flux deploy key, if any, is in its output flux_deploy_key_public",
    ];
  }
  const key = outputs?.[FLUX_DEPLOY_KEY_OUTPUT]?.value;
  if (typeof key !== "string" || !key.trim()) return [];
  return [
    `Flux clones ${repository ?? "the repository"} with this deploy key. Add it (read-only is enough) under the`,
    "repository's Settings > Deploy keys before Flux can sync; it stays the same on every run:",
    `  ${key.trim()}`,
  ];
}
