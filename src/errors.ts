// One error hierarchy for restic-ts: every failure carries a stable `code` that callers and
// tests match on, structured `data`, and a message for people with passwords redacted.

export type ErrorCode =
  | "WRONG_PASSWORD" // no key file opens with the given password
  | "EMPTY_PASSWORD" // an empty password was given where one is required
  | "UNAUTHENTICATED" // a MAC did not verify: the bytes were tampered with or damaged
  | "NOT_FOUND" // a file, blob, snapshot or key does not exist
  | "ALREADY_EXISTS" // refusing to overwrite (e.g. init into a non-empty directory)
  | "NO_REPOSITORY" // the location holds no restic repository
  | "CORRUPT" // a file exists but does not parse as what it should be
  | "UNSUPPORTED" // a well-formed but unsupported value (repository version, KDF, …)
  | "INVALID_ARGUMENT" // bad input from a caller (flags, IDs, parameters)
  | "INVALID_URL" // a repository URL that does not parse
  | "AMBIGUOUS_ID" // an ID prefix matches more than one file
  | "KEY_IN_USE" // refusing to remove the key the repository was opened with
  | "LOCKED" // another process holds a conflicting lock
  | "HOSTILE_PATH" // a tree names a path that would escape the target
  | "ACCESS_DENIED" // credentials, permissions or a server's host key were refused
  | "IO" // an operating-system or network failure
  | "TIMEOUT" // an operation did not finish in the time given
  | "CANCELLED" // an operation was cancelled by its caller
  | "INTERNAL"; // a library we call failed in a way no input explains (a bug, not bad data)

const PASSWORD_PARAM = /([?&;]password=)[^&#\s"']*/gi;
const URL_USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@"']*:)[^@/\s"']*@/gi;

/** Replace every `password=…` query value and `scheme://user:pass@` secret with `***`. */
export function redact(text: string): string {
  return text.replace(PASSWORD_PARAM, "$1***").replace(URL_USERINFO, "$1***@");
}

export class ResticTsError extends Error {
  readonly code: ErrorCode;
  readonly data: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    data: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(redact(message), options);
    this.name = "ResticTsError";
    this.code = code;
    this.data = data;
  }

  toJSON(): { code: ErrorCode; message: string; data: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, data: this.data };
  }
}

export function isResticTsError(err: unknown, code?: ErrorCode): err is ResticTsError {
  return err instanceof ResticTsError && (code === undefined || err.code === code);
}

/** Map a Node.js system error to a coded error, keeping it as the cause. */
export function fromSystemError(err: unknown, what: string): ResticTsError {
  if (err instanceof ResticTsError) return err;
  const sys = err as NodeJS.ErrnoException;
  const detail = sys?.message ?? String(err);
  if (sys?.code === "ENOENT")
    return new ResticTsError("NOT_FOUND", `${what}: not found`, {}, { cause: err });
  if (sys?.code === "EEXIST")
    return new ResticTsError("ALREADY_EXISTS", `${what}: already exists`, {}, { cause: err });
  if (sys?.code === "EACCES" || sys?.code === "EPERM")
    return new ResticTsError(
      "ACCESS_DENIED",
      `${what}: permission denied`,
      { errno: sys.code, permanent: true },
      { cause: err },
    );
  return new ResticTsError("IO", `${what}: ${detail}`, { errno: sys?.code }, { cause: err });
}
