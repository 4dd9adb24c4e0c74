import {
  paramHeaderBindings,
  type ParamHeaderBinding,
} from "../../contract/src/mcp-param-headers.ts";

// A catalog entry's definition is replaced, never changed, when the tool is listed again.
const bindingsByDefinition = new WeakMap<object, readonly ParamHeaderBinding[]>();

/** A catalog tool definition's `Mcp-Param-*` bindings (SEP-2243), worked out once per definition. */
export function paramBindingsOf(
  definition: Record<string, unknown>,
): readonly ParamHeaderBinding[] {
  let bindings = bindingsByDefinition.get(definition);
  if (bindings === undefined) {
    bindings = paramHeaderBindings(definition.inputSchema);
    bindingsByDefinition.set(definition, bindings);
  }
  return bindings;
}
