// Turn a parsed repository location into a Backend.

import { ResticTsError } from "../errors.js";
import type { Backend } from "./backend.js";
import { LocalBackend } from "./local.js";
import type { RepoLocation } from "./url.js";

export async function openBackend(location: RepoLocation): Promise<Backend> {
  switch (location.kind) {
    case "local":
      return new LocalBackend(location.path);
    case "sftp":
    case "rest":
      throw new ResticTsError("UNSUPPORTED", `the ${location.kind} backend is not available yet`, {
        kind: location.kind,
      });
  }
}
