#pragma once

#include <string>

#include "sidecar/cluster/cluster.h"
#include "sidecar/cluster/router.h"
#include "sidecar/runtime/shards.h"

namespace sidecar::metrics {

// The Prometheus text exposition of this sidecar: counters summed over the
// shards' ShardMetrics, and gauges from a Stats snapshot the shards take on
// their own threads (left out if they do not answer within a second).
// `cluster` is null for a single node.
std::string RenderMetrics(runtime::Shards& shards, cluster::Router& router, bool draining,
                          const cluster::Cluster* cluster = nullptr);

}  // namespace sidecar::metrics
