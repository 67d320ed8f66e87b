/** Model URIs: `registry://<model>@<alias>` or `registry://<model>/<version>`. */
import { AliasName } from "./alias";
import { ModelName } from "./names";

export type ModelUri =
  { model: string; alias: string; version?: undefined } | { model: string; version: number; alias?: undefined };

/** Parses a model URI; null when it is not one. Aliases fold to lower case. */
export function parseModelUri(uri: string): ModelUri | null {
  const match = /^registry:\/\/([^@/]+)(?:@([^@/]+)|\/([1-9][0-9]{0,8}))$/.exec(uri);
  if (!match) return null;
  const model = ModelName.safeParse(match[1]);
  if (!model.success) return null;
  if (match[3] !== undefined) return { model: model.data, version: Number(match[3]) };
  const alias = AliasName.safeParse(match[2]);
  return alias.success ? { model: model.data, alias: alias.data } : null;
}

export const versionUri = (model: string, version: number) => `registry://${model}/${version}`;
