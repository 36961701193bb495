// The Talos node simulators of the engine tests (judges/simulated-cluster/talos-nodes.ts).
export {
  etcdOf,
  ownLoopbackRange,
  type SimNode,
  startTalosNodes,
  type TalosNodes,
  talosSimBuild,
} from "../../judges/simulated-cluster/talos-nodes";
