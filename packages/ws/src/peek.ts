/**
 * Reads `meta.request_id` from a frame that will not be parsed (too large, binary, or refused by
 * the decoder before its id was read), so the one waiting request can still be answered. A scan
 * for the last `"request_id":"..."`, bounded to the id's 128 characters: cheap next to receiving
 * the frame. A hostile frame can only mislead its own sender.
 */
export function peekRequestId(text: string): string | undefined {
  const at = text.lastIndexOf('"request_id"');
  if (at < 0) return undefined;
  const m = /^"request_id"\s*:\s*"([^"\\]{1,128})"/.exec(text.slice(at, at + 160));
  return m?.[1];
}
