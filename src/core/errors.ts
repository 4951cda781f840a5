// The error catalogue: every error a client can see has a stable code, an HTTP status and a
// one-sentence message. Stack traces never leave the server.

export const ERROR_CATALOGUE = {
  CONFIG_INVALID: { status: 400, title: 'The configuration is invalid' },
  BAD_REQUEST: { status: 400, title: 'The request is malformed' },
  SERVICE_NOT_FOUND: { status: 404, title: 'No such service' },
  RUN_NOT_FOUND: { status: 404, title: 'No such run' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'The path does not take this method' },
  RUN_NOT_CANCELLABLE: { status: 409, title: 'The run has already finished' },
  RUN_NOT_FINISHED: { status: 409, title: 'The run has not finished yet' },
  RUN_NOT_RESUMABLE: { status: 409, title: 'The run cannot be resumed' },
  FORGE_NOT_FOUND: { status: 404, title: 'No such forge' },
  REPOSITORY_NOT_FOUND: { status: 404, title: 'No service or secret knows this repository' },
  SIGNATURE_INVALID: { status: 401, title: 'The signature or token is missing or wrong' },
  WEBHOOK_MALFORMED: { status: 400, title: 'The webhook body is malformed' },
  WEBHOOK_REPOSITORY_MISMATCH: { status: 403, title: 'The webhook body names another repository than the one whose secret verified it' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'The body is over the size limit' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'The body has the wrong content type' },
  REF_NOT_FOUND: { status: 422, title: 'The ref does not exist in the repository' },
  REPOSITORY_UNAVAILABLE: { status: 422, title: 'The repository cannot be read' },
  ENGINE_UNAVAILABLE: { status: 503, title: 'No container engine is available' },
  UNAUTHENTICATED: { status: 401, title: 'A valid API token is required' },
  FORBIDDEN: { status: 403, title: 'Your role does not allow this' },
  USER_NOT_FOUND: { status: 404, title: 'No such user' },
  USER_EXISTS: { status: 409, title: 'A user of that name exists' },
  TOKEN_NOT_FOUND: { status: 404, title: 'No such API token' },
  LAST_ADMIN: { status: 409, title: 'Slipway must keep at least one admin' },
  VARIABLE_FORBIDDEN: { status: 400, title: 'A run may not set this variable' },
  ENVIRONMENT_NOT_FOUND: { status: 404, title: 'No such environment' },
  RELEASE_NOT_FOUND: { status: 404, title: 'No such release' },
  RELEASE_NOT_DEPLOYABLE: { status: 409, title: 'The release cannot be deployed there' },
  NOT_WAITING: { status: 409, title: 'The run is not waiting at a gate' },
  APPROVAL_REFUSED: { status: 403, title: 'You may not approve this release' },
  ALREADY_DECIDED: { status: 409, title: 'You have already decided on this release' },
  ALREADY_LOCKED: { status: 409, title: 'The environment is already locked' },
  NOT_LOCKED: { status: 404, title: 'The environment is not locked' },
  SECRET_NOT_FOUND: { status: 404, title: 'No such secret' },
  SECRET_MISSING: { status: 422, title: 'A secret the stage needs is not set' },
  KEY_ROTATION_UNAVAILABLE: { status: 409, title: 'The secret key cannot be rotated from here' },
  PREVIEW_NOT_FOUND: { status: 404, title: 'No such preview' },
  PREVIEW_NOT_LIVE: { status: 409, title: 'The preview is already removed or being removed' },
  PREVIEWS_UNAVAILABLE: { status: 503, title: 'This server cannot run previews' },
  INTERNAL: { status: 500, title: 'Internal error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class SlipwayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'SlipwayError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: unknown } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** One readable sentence for any thrown value; never a stack trace. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? String(error);
  return String(error);
}
