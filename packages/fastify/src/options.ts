/**
 * What every plugin of this package checks of its options at registration, as Fastify plugins do:
 * no key it does not know, so a typo fails at startup instead of being ignored.
 */

/** Keys Fastify itself puts in a plugin's options (`register(plugin, { prefix })`). */
const REGISTER_KEYS: ReadonlySet<string> = new Set(['prefix', 'logLevel', 'logSerializers', 'contextConfig']);

/**
 * The first key of `options` that is neither one of `known` nor one Fastify adds, described for
 * a TypeError (`unknown option "x" (known: a, b)`), or `undefined` when every key is known.
 */
export function unknownOption(options: Record<string, unknown>, known: ReadonlySet<string>): string | undefined {
  for (const key of Object.keys(options)) {
    if (!known.has(key) && !REGISTER_KEYS.has(key)) {
      return `unknown option ${JSON.stringify(key)} (known: ${[...known].join(', ')})`;
    }
  }
  return undefined;
}
