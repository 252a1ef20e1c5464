/**
 * The account's model mappings as routing consumes them. Routing may not import
 * governance, so the pipeline wraps the folded policy in routing's MappingSource.
 */
import { allowsModel, allowsUpstream, mappedModel, type EffectivePolicy } from "../governance/policy.js";
import type { MappingSource } from "../routing/resolve-model.js";

const sources = new WeakMap<EffectivePolicy, MappingSource>();
let versions = 0;

/**
 * One source per folded policy object. A principals rebuild folds new objects, so a new
 * key, which is what makes the key a policy version: resolutions cached under the old
 * one are never read again and age out of the bounded cache.
 */
export function mappingSource(policy: EffectivePolicy): MappingSource {
  let s = sources.get(policy);
  if (!s) {
    s = {
      key: `p${++versions}`,
      lookup: (model) => mappedModel(policy, model),
      allows: (model) => allowsModel(policy, model),
      usesUpstream: (name) => allowsUpstream(policy, name),
    };
    sources.set(policy, s);
  }
  return s;
}
