// Known cross-transport deviations, each reported with file and line (see the issue note). The
// suite records them instead of failing on them, and fails on any deviation not listed here, so a
// new difference is caught while a reported one does not turn the build red. When an adapter
// fixes one, its entry can go (a fixed deviation never fails the suite).

export const KNOWN = {
  /** Regular expressions over "scenario: data.field ws=... other=..." lines. */
  dataDiffs: /** @type {RegExp[]} */ ([]),
  /** transport → behaviour keys (see `noteDeviation` calls) that are known not to hold. */
  deviations: /** @type {Record<string, string[]>} */ ({}),
};

/** @type {{ transport: string, key: string, what: string }[]} */
const seen = [];

/**
 * Records whether a behaviour that should hold on every transport held on this one.
 * @param {string} transport @param {string} key @param {boolean} ok @param {string} what
 */
export function noteDeviation(transport, key, ok, what) {
  if (!ok) seen.push({ transport, key, what });
}

/** Deviations seen so far that are not in {@link KNOWN}. */
export function unknownDeviations() {
  return seen.filter((d) => !(KNOWN.deviations[d.transport] ?? []).includes(d.key));
}

/** Prints every deviation seen. */
export function reportDeviations() {
  if (seen.length === 0) return;
  console.log(`deviations:\n  ${seen.map((d) => `${d.transport}: ${d.key} (${d.what})`).join('\n  ')}`);
}
