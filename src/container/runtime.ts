// The runtime adapter: what a container agent implements so that `ContainerManager` can back up,
// restore and create its containers. The manager needs inspect, pause, resume and create; start
// and delete are used when present (`{start: true}`, rolling back a cancelled create), and the
// rest serves the reference runtime (`RuncRuntime`) and the CLI.
//
//   class MyAgentRuntime implements ContainerRuntime {
//     async inspect(id: string): Promise<ContainerInfo> {
//       const c = this.containers.get(id);
//       if (!c) throw new ResticTsError("NOT_FOUND", `no container ${id}`);
//       return { id, config: redactConfig(c.config), rootPath: c.rootfs, state: c.state };
//     }
//     async pause(id: string) { await this.cgroupFreeze(id); }
//     async resume(id: string) { await this.cgroupThaw(id); }
//     async create(config: ContainerConfig, preparedRoot?: string): Promise<string> {
//       // preparedRoot: the root filesystem, already restored — take it over (rename it);
//       // otherwise fetch config.root (an flist, a tar…) as usual.
//       return this.spawnContainer(config, preparedRoot ?? (await this.fetchRoot(config.root)));
//     }
//   }
//   const manager = new ContainerManager({ runtime: new MyAgentRuntime(), store });

import type { ContainerConfig } from "./config.js";

/**
 * `created`: exists, never started · `running` · `paused`: frozen (cgroup freezer) ·
 * `stopped`: its processes have exited.
 */
export type ContainerState = "created" | "running" | "paused" | "stopped";

export interface ContainerInfo {
  readonly id: string;
  /** The creation config as stored: redacted (`redactConfig`), with assigned MACs filled in. */
  readonly config: ContainerConfig;
  /**
   * The root filesystem on the host, the way it looks inside the container (without the
   * container's mounts). Backed up while the container is paused.
   */
  readonly rootPath: string;
  readonly state: ContainerState;
}

export interface StopOptions {
  /** Grace period after SIGTERM before SIGKILL; default 10 s. */
  readonly timeoutMs?: number;
}

export interface DeleteOptions {
  /** Kill a running or paused container instead of refusing. */
  readonly force?: boolean;
}

export interface ContainerRuntime {
  /** The container's config, root filesystem path and state; NOT_FOUND for an unknown ID. */
  inspect(id: string): Promise<ContainerInfo>;
  /** Freeze every process of a running container. */
  pause(id: string): Promise<void>;
  /** Thaw a paused container. */
  resume(id: string): Promise<void>;
  /**
   * Create a container and return its new ID. With `preparedRoot`, that directory (on the same
   * host) is the complete root filesystem: the runtime takes it over — renames or copies it —
   * and ignores `config.root`; otherwise the runtime obtains `config.root` itself and refuses
   * `restic:` roots (the manager restores those). Implementations store and list only
   * `redactConfig(config)`, never a password in clear.
   */
  create(config: ContainerConfig, preparedRoot?: string): Promise<string>;
  /**
   * A new empty directory where a root filesystem can be prepared and then handed to `create`
   * cheaply (same filesystem as the runtime's storage). Without it the manager uses the OS
   * temporary directory.
   */
  scratchDir?(): Promise<string>;
  start?(id: string): Promise<void>;
  stop?(id: string, opts?: StopOptions): Promise<void>;
  delete?(id: string, opts?: DeleteOptions): Promise<void>;
  list?(): Promise<ContainerInfo[]>;
}
