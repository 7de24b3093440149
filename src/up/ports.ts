import { serviceKey } from "../serve/daemon.js";
import type { PortsConfig } from "../serve/ports.js";
import { describeTable, readTable } from "../ports/table.js";
import { need, type Stage } from "./context.js";

/**
 * Apps one click away (loadBalancer, forwardServices): the cluster's ports service runs in this dev
 * container, giving LoadBalancer Services the nodes' addresses and every forwarded Service port a relay
 * on localhost. It runs before the GitOps stage: a commit whose Kustomization waits for a LoadBalancer
 * Service becomes Ready only once the Service has an address.
 */
export const portsStage: Stage = {
  name: "ports",
  async run(ctx, status) {
    const { settings } = ctx;
    const key = serviceKey("ports", settings.clusterName);
    if (!settings.loadBalancer && !settings.forwardServices) {
      const stopped = await ctx.services.stop(key);
      return status.note(`off (loadBalancer and forwardServices are false)${stopped ? "; stopped the ports service" : ""}`);
    }
    if (settings.forwardServices) {
      // Node ports are reached over the cluster's network, which this container joins.
      const why = await (await ctx.self()).join(need(ctx, "cluster").network);
      if (why) status.warn(`Services cannot be forwarded to localhost: ${why}`);
    }
    const config: PortsConfig = {
      kubeconfig: ctx.kubeconfig,
      clusterName: settings.clusterName,
      loadBalancer: settings.loadBalancer,
      forwardServices: settings.forwardServices,
      table: tablePath(ctx.services.paths(key).state),
    };
    const { action } = await ctx.services.ensure(key, config);
    const table = await readTable(config.table);
    const lines = table ? describeTable(table) : { forwards: [], loadBalancers: [], problems: [] };
    const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
    status.note(`${count(lines.forwards.length, "forward")}, ${count(table?.loadBalancers.length ?? 0, "load balancer")} (service ${action})`);
    for (const line of lines.forwards) status.detail(`forward ${line}`);
    for (const line of lines.loadBalancers) status.detail(`load balancer ${line}`);
    for (const line of lines.problems) status.warn(line);
    if (table && !table.api.connected) status.warn(`the ports service cannot follow the API yet: ${table.api.error}`);
  },
};

/** The table lives beside the service's state file: <runtime>/<cluster>/ports.default.table.json. */
function tablePath(statePath: string): string {
  return statePath.replace(/\.state\.json$/, ".table.json");
}
