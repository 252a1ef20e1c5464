/** `data:<media type>;base64,<data>` URLs, the form Responses uses for inline images and files (docs/protocols.md#responses-input-items). */

export interface InlineData {
  mediaType: string;
  data: string;
}

const DATA_URL = /^data:([^;,]*)(?:;[^,]*)?;base64,/;

export function parseDataUrl(url: string): InlineData | undefined {
  const m = DATA_URL.exec(url);
  if (!m) return undefined;
  return { mediaType: m[1] || "application/octet-stream", data: url.slice(m[0].length) };
}

export function toDataUrl(mediaType: string, data: string): string {
  return `data:${mediaType};base64,${data}`;
}
