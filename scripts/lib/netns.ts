/**
 * A small Linux network for real multi-host runs on one machine: N network namespaces joined by veth
 * pairs to a bridge, addresses 10.77.<subnet>.<1..N>/24, optional packet loss injected with nftables
 * inside each namespace (`numgen random mod 100 < loss%` drop on the gossip port), and a counter of
 * datagrams larger than a limit so "nothing bigger ever crossed the wire" is measured, not assumed.
 * Needs root, `iproute2` and `nftables`. Every name carries a random tag; `destroy()` removes it all.
 *
 * @module
 */

/** One namespace on the bridge. */
export interface NetHost {
  /** Namespace name (`ip netns exec NAME …`). */
  ns: string;
  /** Address on the bridge. */
  address: string;
}

/** Options for {@linkcode createNetwork}. */
export interface NetworkOptions {
  hosts: number;
  /** Third octet of 10.77.X.0/24 (default 0). */
  subnet?: number;
  /** UDP port whose incoming datagrams are dropped with `lossPercent` and size-counted. */
  udpPort: number;
  /** Share of incoming datagrams on `udpPort` dropped per namespace, 0..100. */
  lossPercent?: number;
  /** Datagrams with a UDP payload above this many bytes are counted (default 1232). */
  maxPayload?: number;
}

/** A created network. */
export interface Network {
  hosts: NetHost[];
  /** Subnet broadcast address. */
  broadcast: string;
  /** Prefix for running a command in host `i`: `["ip", "netns", "exec", ns]`. */
  exec(i: number): string[];
  /** Datagrams received by host `i` on the port: total seen, dropped by loss, larger than the limit. */
  counters(i: number): Promise<{ seen: number; dropped: number; oversize: number }>;
  destroy(): Promise<void>;
}

async function sh(cmd: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  if (out.code !== 0) {
    throw new Error(`${cmd.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Creates the namespaces, the bridge and the loss rules. Call `destroy()` in a `finally`. */
export async function createNetwork(options: NetworkOptions): Promise<Network> {
  const tag = crypto.randomUUID().slice(0, 4);
  const subnet = options.subnet ?? 0;
  const bridge = `agbr${tag}`;
  const hosts: NetHost[] = [];
  const maxPayload = options.maxPayload ?? 1232;
  const loss = options.lossPercent ?? 0;
  const created: string[] = [];
  const destroy = async () => {
    for (const ns of created) await sh(["ip", "netns", "del", ns]).catch(() => {});
    await sh(["ip", "link", "del", bridge]).catch(() => {});
  };
  try {
    await sh(["ip", "link", "add", bridge, "type", "bridge"]);
    await sh(["ip", "link", "set", bridge, "up"]);
    for (let i = 0; i < options.hosts; i++) {
      const ns = `agns${tag}-${i + 1}`;
      const veth = `agv${tag}${i + 1}`;
      await sh(["ip", "netns", "add", ns]);
      created.push(ns);
      await sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      await sh(["ip", "link", "set", veth, "master", bridge]);
      await sh(["ip", "link", "set", veth, "up"]);
      const address = `10.77.${subnet}.${i + 1}`;
      const inNs = ["ip", "netns", "exec", ns];
      await sh([...inNs, "ip", "addr", "add", `${address}/24`, "brd", "+", "dev", "eth0"]);
      await sh([...inNs, "ip", "link", "set", "eth0", "up"]);
      await sh([...inNs, "ip", "link", "set", "lo", "up"]);
      // IP total length = 20 (IPv4 header) + 8 (UDP header) + payload.
      const rules = [
        "table inet agent {",
        "  chain input {",
        "    type filter hook input priority 0; policy accept;",
        `    udp dport ${options.udpPort} counter comment "seen"`,
        `    udp dport ${options.udpPort} ip length > ${maxPayload + 28} counter comment "oversize"`,
        ...(loss > 0
          ? [`    udp dport ${options.udpPort} numgen random mod 100 < ${loss} counter drop comment "loss"`]
          : []),
        "  }",
        "}",
      ].join("\n");
      await sh([...inNs, "nft", "-f", "-"], rules);
      hosts.push({ ns, address });
    }
  } catch (e) {
    await destroy();
    throw e;
  }
  return {
    hosts,
    broadcast: `10.77.${subnet}.255`,
    exec: (i) => ["ip", "netns", "exec", hosts[i].ns],
    async counters(i) {
      const text = await sh([
        "ip",
        "netns",
        "exec",
        hosts[i].ns,
        "nft",
        "-j",
        "list",
        "table",
        "inet",
        "agent",
      ]);
      const out = { seen: 0, dropped: 0, oversize: 0 };
      for (const item of JSON.parse(text).nftables as Record<string, unknown>[]) {
        const rule = item.rule as { comment?: string; expr: Record<string, unknown>[] } | undefined;
        if (!rule) continue;
        const counter = rule.expr.find((e) => "counter" in e)?.counter as { packets: number } | undefined;
        if (!counter) continue;
        if (rule.comment === "seen") out.seen = counter.packets;
        if (rule.comment === "loss") out.dropped = counter.packets;
        if (rule.comment === "oversize") out.oversize = counter.packets;
      }
      return out;
    },
    destroy,
  };
}
