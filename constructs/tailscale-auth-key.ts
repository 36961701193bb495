import { Fn, TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { TAILSCALE_AUTH_KEY_PATTERN } from "../config/tailscale";

export interface TailscaleAuthKeyProps {
  /** The OpenTofu variable's name: the environment gives it as TF_VAR_<name>. */
  readonly variable: string;
}

/**
 * The Tailscale auth key, from the environment only: a sensitive variable with no default. It reaches the nodes'
 * ExtensionServiceConfig through the machine configuration, so layer 01's state holds it (in the machine
 * configuration data sources and their applies), never the synthesized files.
 */
export class TailscaleAuthKey extends Construct {
  readonly variable: TerraformVariable;

  constructor(scope: Construct, id: string, props: TailscaleAuthKeyProps) {
    super(scope, id);
    this.variable = new TerraformVariable(this, "Variable", {
      type: "string",
      sensitive: true,
      nullable: false,
      description: `Tailscale auth key of the nodes that join the tailnet (from TF_VAR_${props.variable})`,
    });
    this.variable.overrideLogicalId(props.variable);
    this.variable.addValidation({
      condition: Fn.can(Fn.regex(TAILSCALE_AUTH_KEY_PATTERN, this.variable.stringValue)),
      errorMessage:
        "The Tailscale auth key is a tskey-auth-... key, an OAuth client secret (with its ?ephemeral=...&preauthorized=... options) or a Headscale pre-auth key: letters, digits, '_' and '-'.",
    });
  }

  get value(): string {
    return this.variable.stringValue;
  }
}
