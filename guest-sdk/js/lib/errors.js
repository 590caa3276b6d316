// Failures as the one line an on-call engineer reads in the alert: the ProbeError type,
// the message of any thrown value, and wasi:http error codes in words (the same words as
// the Rust and Python SDKs). Pure: no host imports, so node can test it.

/**
 * A probe failure whose message is shown as is (no error type in front).
 * Every error the SDK throws (HTTP failures, failed steps, missing config) is one.
 */
export class ProbeError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'ProbeError';
  }
}

const NETWORK_ERROR = 'NetworkError when attempting to fetch resource';

/** Whether `e` is the TypeError `fetch` rejects with when it got no response. */
export function isFetchNetworkError(e) {
  return e instanceof TypeError && String(e.message).startsWith(NETWORK_ERROR);
}

/**
 * The message for any thrown value: a ProbeError or plain Error by its message, other
 * errors as "TypeName: message", strings as they are, anything else as JSON.
 */
export function messageOf(e) {
  if (e instanceof ProbeError) return e.message;
  if (isFetchNetworkError(e)) {
    return `fetch got no response (${e.message}): the run's http section says why`;
  }
  if (e instanceof Error) {
    const name = e.name || 'Error';
    const text = e.message ? String(e.message) : '';
    if (name === 'Error') return text || 'Error';
    return text ? `${name}: ${text}` : name;
  }
  if (typeof e === 'string') return e;
  if (e === undefined || e === null) return `threw ${e}`;
  try {
    const json = JSON.stringify(e);
    if (json !== undefined && json !== '{}') return json;
  } catch {
    // not serialisable: fall through to String()
  }
  return String(e);
}

const PLAIN = {
  'DNS-timeout': 'DNS lookup timed out',
  'destination-not-found': 'host not found',
  'destination-unavailable': 'destination unavailable',
  'destination-IP-prohibited': 'destination IP address is prohibited',
  'destination-IP-unroutable': 'destination IP address is unroutable',
  'connection-refused': 'connection refused',
  'connection-terminated': 'connection closed by the server',
  'connection-timeout': 'timed out connecting',
  'connection-read-timeout': 'timed out waiting for the server to answer',
  'connection-write-timeout': 'timed out sending the request',
  'connection-limit-reached': 'connection limit reached',
  'TLS-protocol-error': 'TLS handshake failed',
  'TLS-certificate-error': 'TLS certificate rejected',
  'HTTP-request-length-required': 'the server wants a Content-Length header (411)',
  'HTTP-request-method-invalid': 'invalid HTTP method',
  'HTTP-request-URI-invalid': 'invalid request URL',
  'HTTP-request-URI-too-long': 'request URL too long',
  'HTTP-request-header-section-size': 'request headers too large',
  'HTTP-request-trailer-section-size': 'request trailers too large',
  'HTTP-response-incomplete': 'the server closed the connection before the response was complete',
  'HTTP-response-header-section-size': 'response headers too large',
  'HTTP-response-trailer-section-size': 'response trailers too large',
  'HTTP-response-timeout': 'timed out waiting for the response',
  'HTTP-upgrade-failed': 'HTTP upgrade failed',
  'HTTP-protocol-error': "HTTP protocol error (the server's answer was not valid HTTP/1.1)",
  'loop-detected': 'loop detected',
  'configuration-error': 'HTTP configuration error in the host',
};

const present = (v) => v !== undefined && v !== null;

function withSize(text, size) {
  return present(size) ? `${text} (at ${size} bytes)` : text;
}

function fieldTooLarge(what, field) {
  const name = field && field.fieldName;
  return name ? `${what} \`${name}\` too large` : `${what} too large`;
}

/**
 * Describe a wasi:http `error-code` (`{ tag: 'connection-refused' }`, ...) for a request
 * to `hostPort`.
 */
export function describeErrorCode(code, hostPort) {
  const tag = code && code.tag;
  const val = code ? code.val : undefined;
  if (tag in PLAIN) return PLAIN[tag];
  switch (tag) {
    case 'DNS-error': {
      const rcode = val && val.rcode;
      const info = val && val.infoCode;
      if (present(rcode) && present(info)) return `DNS lookup failed (${rcode}, code ${info})`;
      if (present(rcode)) return `DNS lookup failed (${rcode})`;
      if (present(info)) return `DNS lookup failed (code ${info})`;
      return 'DNS lookup failed';
    }
    case 'TLS-alert-received': {
      if (val && val.alertMessage) return `TLS alert from the server: ${val.alertMessage}`;
      if (val && present(val.alertId)) return `TLS alert ${val.alertId} from the server`;
      return 'TLS alert from the server';
    }
    case 'HTTP-request-denied':
      return `request denied by vigil's sandbox (is ${hostPort} in the probe's \`allow\` list?)`;
    case 'HTTP-request-body-size':
      return withSize('request body does not match its Content-Length header', val);
    case 'HTTP-request-header-size':
      return fieldTooLarge('request header', val);
    case 'HTTP-request-trailer-size':
      return fieldTooLarge('request trailer', val);
    case 'HTTP-response-header-size':
      return fieldTooLarge('response header', val);
    case 'HTTP-response-trailer-size':
      return fieldTooLarge('response trailer', val);
    case 'HTTP-response-body-size':
      return withSize('response body over the size limit', val);
    case 'HTTP-response-transfer-coding':
      return val ? `unsupported transfer coding \`${val}\` in the response` : 'invalid transfer coding in the response';
    case 'HTTP-response-content-coding':
      return val ? `unsupported content coding \`${val}\` in the response` : 'invalid content coding in the response';
    case 'internal-error':
      return val ? `HTTP error: ${val}` : 'internal HTTP error in the host';
    default:
      return `HTTP error ${tag}`;
  }
}
