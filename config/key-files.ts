// The files the config names: the public key files of workloads.yaml (`ssh_keys: [{file}]`) and the CA of
// cluster.yaml's OIDC issuer (`cluster_api_oidc.ca_file`). Each is read once, through the same checks as the
// config files (inside the config folder, regular, bounded, UTF-8), and only if it holds what it should (OpenSSH
// public keys; PEM CA certificates). Their text is data: it reaches the engine through the gate
// (terraform-literal.ts) like any value.
import { X509Certificate } from "node:crypto";
import { readConfigFolderFile } from "./files";
import type { ConfigIssue } from "./issues";
import type { ClusterConfig } from "./schema";
import { hasTokenMarker } from "./terraform-literal";
import type { WorkloadsConfig } from "./workloads";

/** Largest public key file: a few keys of a few hundred bytes each. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

const PUBLIC_KEY =
  /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( .*)?$/;

/** Reads every public key file of `ssh_keys: [{file}]` (relative to `dir`); every problem is an issue at its key. */
export function readSshKeyFiles(
  workloads: WorkloadsConfig,
  dir: string,
): { contents: Map<string, string>; issues: ConfigIssue[] } {
  const contents = new Map<string, string>();
  const refused = new Map<string, string>();
  const issues: ConfigIssue[] = [];
  const lists = [
    ...workloads.containers.map((c, i) => [["containers", i], c.ssh_keys] as const),
    ...workloads.vms.map((v, i) => [["vms", i], v.ssh_keys] as const),
  ];
  for (const [path, keys] of lists) {
    keys.forEach((key, k) => {
      if (!("file" in key) || contents.has(key.file)) return;
      let problem = refused.get(key.file);
      if (problem === undefined) {
        const read = readKeyFile(dir, key.file);
        if (typeof read === "string") problem = read;
        else contents.set(key.file, read.text);
      }
      if (problem === undefined) return;
      refused.set(key.file, problem);
      issues.push({
        file: "workloads.yaml",
        path: [...path, "ssh_keys", k, "file"],
        message: problem,
        severity: "error",
      });
    });
  }
  return { contents, issues };
}

/** The key lines of one file, or why it is refused. */
function readKeyFile(dir: string, name: string): { text: string } | string {
  let text: string;
  try {
    text = readConfigFolderFile(dir, name, MAX_KEY_FILE_BYTES);
  } catch (e) {
    return `cannot read ${name}: ${(e as Error).message}`;
  }
  if (/PRIVATE KEY/.test(text)) return `${name} is a private key; name the public key (.pub)`;
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  if (lines.length === 0 || !lines.every((l) => PUBLIC_KEY.test(l)))
    return `${name} is not an OpenSSH public key file (one "ssh-ed25519 AAAA... comment" per line)`;
  if (lines.some(hasTokenMarker))
    return `${name} contains "TfToken[", the marker of cdktf's references, which no configuration value may`;
  return { text: lines.join("\n") };
}

/** Largest CA file: a chain of a few certificates. */
export const MAX_CA_FILE_BYTES = 64 * 1024;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----/g;

/**
 * The PEM of cluster_api_oidc.ca_file (relative to `dir`), or the issue at the key: certificates only, each one a
 * CA that parses.
 */
export function readOidcCaFile(
  cluster: Partial<ClusterConfig> | undefined,
  dir: string,
): { pem?: string; issues: ConfigIssue[] } {
  const name = cluster?.cluster_api_oidc?.ca_file;
  if (name === undefined) return { issues: [] };
  const problem = (message: string) => ({
    issues: [
      { file: "cluster.yaml" as const, path: ["cluster_api_oidc", "ca_file"], message, severity: "error" as const },
    ],
  });
  let text: string;
  try {
    text = readConfigFolderFile(dir, name, MAX_CA_FILE_BYTES);
  } catch (e) {
    return problem(`cannot read ${name}: ${(e as Error).message}`);
  }
  if (/PRIVATE KEY/.test(text)) return problem(`${name} holds a private key; name the CA's certificate alone`);
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0 || text.replace(PEM_CERTIFICATE, "").trim() !== "")
    return problem(`${name} is not a PEM file of certificates ("-----BEGIN CERTIFICATE-----" blocks and nothing else)`);
  for (const [i, block] of blocks.entries()) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(block);
    } catch (e) {
      return problem(`${name}: certificate ${i + 1} does not parse (${(e as Error).message})`);
    }
    if (!certificate.ca)
      return problem(`${name}: certificate ${i + 1} (${certificate.subject.replaceAll("\n", ", ")}) is not a CA`);
  }
  return { pem: `${blocks.map((b) => b.replaceAll("\r", "")).join("\n")}\n`, issues: [] };
}
