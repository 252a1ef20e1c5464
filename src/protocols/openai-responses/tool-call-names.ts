/**
 * Codex namespaced tools (`{type:"namespace",name:"multi_agent_v1",tools:[…]}`)
 * come back as `function_call{namespace:"multi_agent_v1",name:"close_agent"}`.
 * The canonical ToolCallPart has only `name`, so the pair travels as
 * "multi_agent_v1.close_agent": "." is outside every provider's function-name
 * alphabet (`^[a-zA-Z0-9_-]+$`), so the join is reversible.
 */
export const NAMESPACE_SEPARATOR = ".";

export function joinNamespace(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}${NAMESPACE_SEPARATOR}${name}` : name;
}

export function splitNamespace(canonicalName: string): { namespace?: string; name: string } {
  const i = canonicalName.indexOf(NAMESPACE_SEPARATOR);
  if (i <= 0 || i === canonicalName.length - 1) return { name: canonicalName };
  return { namespace: canonicalName.slice(0, i), name: canonicalName.slice(i + 1) };
}

/** Maps an upstream function-call name back to the client's: namespace first, then the shortening map. */
export function upstreamNameToCanonical(name: string, namespace: string | undefined, toolNames: Map<string, string>): string {
  if (namespace) return joinNamespace(namespace, name);
  return toolNames.get(name) ?? name;
}
