// `restic-ts cat config|masterkey|key ID|snapshot ID|index ID|lock ID|pack ID`: print one
// repository file's decrypted content (JSON indented like restic; pack bytes raw).
// `cat blob ID` prints a blob's plaintext (restic 0.14: data or tree, full ID), `cat tree X`
// a tree blob's JSON as stored, for X a tree ID or restic 0.16's SNAPSHOT[:subfolder].

import { masterKeyToJSON } from "../../crypto/master-key.js";
import { isResticTsError, ResticTsError } from "../../errors.js";
import { formatConfig } from "../../repo/config.js";
import { type Id, isId } from "../../repo/id.js";
import { findSnapshot, findSnapshotId } from "../../repo/snapshots.js";
import { findTreeDirectory, splitSnapshotRef } from "../../repo/walk.js";
import type { Command } from "../command.js";

const TYPES = [
  "config",
  "masterkey",
  "key",
  "snapshot",
  "index",
  "lock",
  "pack",
  "blob",
  "tree",
] as const;

export const catCommand: Command = {
  name: "cat",
  summary: "Print internal objects to stdout",
  usage: `cat ${TYPES.join("|")} [ID]`,
  options: {},
  async run(ctx, args) {
    const [type, idArg] = args;
    const needsId = type !== "config" && type !== "masterkey";
    if (type === undefined || (needsId ? args.length !== 2 : args.length !== 1)) {
      throw new ResticTsError("INVALID_ARGUMENT", "type or ID not specified");
    }
    if (!(TYPES as readonly string[]).includes(type)) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `invalid type "${type}": use one of ${TYPES.join(", ")}`,
      );
    }
    const repo = await ctx.openRepository();
    const decoder = new TextDecoder();
    const indent = (bytes: Uint8Array) =>
      JSON.stringify(JSON.parse(decoder.decode(bytes)), null, 2);
    switch (type) {
      case "config":
        ctx.print(formatConfig(repo.config));
        return 0;
      case "masterkey":
        ctx.print(JSON.stringify(masterKeyToJSON(repo.masterKey), null, 2));
        return 0;
      case "key": {
        const id = await repo.resolveId("key", idArg);
        ctx.print(indent(await repo.backend.load({ type: "key", name: id })));
        return 0;
      }
      case "snapshot": {
        let id: Id;
        try {
          id = findSnapshotId(idArg, await repo.listIds("snapshot"));
        } catch (err) {
          // restic: errors.Fatalf("could not find snapshot: %v\n", err)
          if (!isResticTsError(err)) throw err;
          throw new ResticTsError(err.code, `could not find snapshot: ${err.message}\n`, err.data);
        }
        ctx.print(indent(await repo.loadUnpacked("snapshot", id)));
        return 0;
      }
      case "lock": {
        const id = await repo.resolveId(type, idArg);
        ctx.print(indent(await repo.loadUnpacked(type, id)));
        return 0;
      }
      case "index": {
        const id = await repo.resolveId("index", idArg);
        ctx.print(decoder.decode(await repo.loadUnpacked("index", id)));
        return 0;
      }
      case "blob": {
        const id = idArg.toLowerCase();
        if (!isId(id)) throw new ResticTsError("INVALID_ARGUMENT", `unable to parse ID: ${idArg}`);
        const indexed = await repo.loadIndex();
        for (const t of ["data", "tree"] as const) {
          if (!indexed.index.has(t, id)) continue;
          ctx.io.writeBytes(await indexed.loadBlob(t, id));
          return 0;
        }
        throw new ResticTsError("NOT_FOUND", "blob not found", { id });
      }
      case "tree": {
        const indexed = await repo.loadIndex();
        const lower = idArg.toLowerCase();
        if (isId(lower) && indexed.index.has("tree", lower)) {
          ctx.io.writeBytes(await indexed.loadBlob("tree", lower));
          return 0;
        }
        const { ref, subfolder } = splitSnapshotRef(idArg);
        const sn = await findSnapshot(repo, ref);
        if (sn.snapshot.tree === null) {
          throw new ResticTsError("CORRUPT", `snapshot ${sn.id} has no tree`);
        }
        const tree = await findTreeDirectory(indexed, sn.snapshot.tree, subfolder);
        ctx.io.writeBytes(await indexed.loadBlob("tree", tree));
        return 0;
      }
      case "pack": {
        const id = await repo.resolveId("data", idArg);
        ctx.io.writeBytes(await repo.backend.load({ type: "data", name: id }));
        return 0;
      }
    }
    return 0;
  },
};
