// A bandwidth-shaped local link for bench/image-startup.ts: a dedicated Docker bridge network
// whose bridge device carries a tc `tbf` qdisc. Containers attached to that network reach the
// host (the in-process fake Azure DevOps, bound to the bridge's gateway address) through the
// bridge only, and everything the host sends them leaves through the qdisc: the package download
// runs at the configured rate, with the kernel's real TCP behaviour (slow start, a bounded queue).
// Nothing else on the machine is shaped: not `lo`, not Docker's default bridge, not the cluster.
// The qdisc and the network are removed by close(), which the bench runs in `finally` and on
// SIGINT/SIGTERM.
import { randomBytes } from "node:crypto";
import { docker, dockerOk } from "../test/image/support/docker.ts";
import { run } from "../test/support/process.ts";

export interface ShapedLink {
  /** Docker network to pass to `docker run --network`. */
  readonly network: string;
  /** The Linux bridge device (carries the qdisc). */
  readonly device: string;
  /** The host's address on the bridge: where the containers reach the fake. */
  readonly gateway: string;
  /** Shapes host → containers to `mbit` Mbit/s (replacing any earlier rate); `undefined` removes the shaping. */
  shape(mbit: number | undefined): Promise<void>;
  /** The qdisc as tc reports it (with its counters), for the log. */
  describe(): Promise<string>;
  /** Removes the qdisc and the network; safe to call twice. */
  close(): Promise<void>;
}

/** tc from iproute2 (bench/run.sh installs it with tools/apt.sh when missing). */
async function tc(args: readonly string[]): Promise<{ code: number; output: string }> {
  try {
    const r = await run("tc", args, { timeoutMs: 30_000 });
    return { code: r.code, output: r.output };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new Error("tc (iproute2) is not installed: run bench/run.sh, which installs it, or `apt-get install iproute2`");
    throw error;
  }
}

/**
 * Token bucket sized for the rate: the bucket holds at least 64 KiB (one TSO/GSO segment, so
 * large segments are not split or dropped) or 10 ms at the rate (less holds a 1 Gbit/s link below 900 Mbit/s here); the queue holds 50 ms at the
 * rate, after which packets are dropped and TCP backs off, as on a real bottleneck.
 */
function tbfArgs(mbit: number): string[] {
  const bytesPerSecond = (mbit * 1e6) / 8;
  const burst = Math.max(64 * 1024, Math.ceil(bytesPerSecond * 0.01));
  return ["tbf", "rate", `${mbit}mbit`, "burst", String(burst), "latency", "50ms"];
}

export async function createShapedLink(): Promise<ShapedLink> {
  const id = randomBytes(3).toString("hex");
  const network = `azp-bench-shaped-${id}`;
  // Linux device names have at most 15 characters.
  const device = `azpbench${id}`.slice(0, 15);
  await dockerOk(["network", "create", "--driver", "bridge", "--label", "azp-bench=shaped-link", "--opt", `com.docker.network.bridge.name=${device}`, network]);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await tc(["qdisc", "del", "dev", device, "root"]).catch(() => undefined);
    await docker(["network", "rm", network]);
  };
  try {
    const gateway = await dockerOk(["network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", network]);
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(gateway)) throw new Error(`docker network ${network} has no IPv4 gateway (got '${gateway}')`);
    return {
      network,
      device,
      gateway,
      async shape(mbit) {
        if (mbit === undefined) {
          // "No such file" when there is none: nothing to remove.
          await tc(["qdisc", "del", "dev", device, "root"]);
          return;
        }
        const r = await tc(["qdisc", "replace", "dev", device, "root", ...tbfArgs(mbit)]);
        if (r.code !== 0) throw new Error(`tc qdisc replace dev ${device} root ${tbfArgs(mbit).join(" ")} failed (${r.code}): ${r.output.trim()}`);
      },
      async describe() {
        return (await tc(["-s", "qdisc", "show", "dev", device])).output.trim();
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
