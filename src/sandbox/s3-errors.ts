/** An S3 error response: HTTP status, S3 error code, message and extra XML elements. */
export class S3Error extends Error {
  readonly status: number;
  readonly code: string;
  readonly extra: Record<string, string>;

  constructor(status: number, code: string, message: string, extra: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

export function xmlEscape(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c]!);
}

export const XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** `<Error><Code>..</Code><Message>..</Message>...<RequestId>..</RequestId></Error>` as S3 sends it. */
export function errorXml(error: S3Error, requestId: string, resource?: string): string {
  const extra = Object.entries(error.extra).map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`).join("");
  const res = resource === undefined ? "" : `<Resource>${xmlEscape(resource)}</Resource>`;
  return `${XML_HEADER}<Error><Code>${error.code}</Code><Message>${xmlEscape(error.message)}</Message>${extra}${res}<RequestId>${requestId}</RequestId></Error>`;
}
