// The diff's last net: a secret from the environment is withheld in every form the synthesized text can hold it.
import { describe, expect, it } from "vitest";
import { terraformLiteral } from "../config/terraform-literal";
import { Masker, SENSITIVE } from "../scripts/diff/mask";

describe("Masker.text", () => {
  const secret = 'Pa${ss}"w\\ord%{x}-1234';
  const masker = new Masker([secret]);
  const literal = terraformLiteral(secret);
  it.each([
    ["raw", secret],
    ["as an engine literal", literal],
    ["JSON-quoted", JSON.stringify(secret).slice(1, -1)],
    ["an engine literal, JSON-quoted", JSON.stringify(literal).slice(1, -1)],
    ["JSON-quoted twice (a patch inside a stack)", JSON.stringify(JSON.stringify(literal).slice(1, -1)).slice(1, -1)],
    ["base64", Buffer.from(secret).toString("base64")],
    ["upper case", secret.toUpperCase()],
    ["lower case, as an engine literal", literal.toLowerCase()],
  ])("withholds it %s", (_, form) => {
    const output = masker.text(`before ${form} after`);
    expect(output).toBe(`before ${SENSITIVE} after`);
    expect(masker.isSecretString(form)).toBe(true);
  });
});
