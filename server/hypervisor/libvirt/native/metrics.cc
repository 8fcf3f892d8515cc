// One host's metrics sample in one worker call: node CPU times and memory (virNodeGetCPUStats,
// virNodeGetMemoryStats) and every domain's counters from one bulk call
// (virConnectGetAllDomainStats), summed per domain over its disks and interfaces here, so the
// JavaScript side gets a dozen numbers per domain instead of every typed parameter.
#include <cstring>
#include <string>
#include <vector>

#include "connection.h"

namespace vmdesk {

namespace {

int Check(int rc) {
  if (rc < 0) ThrowLastError();
  return rc;
}

double NumberParam(const virTypedParameter& p) {
  switch (p.type) {
    case VIR_TYPED_PARAM_INT: return p.value.i;
    case VIR_TYPED_PARAM_UINT: return p.value.ui;
    case VIR_TYPED_PARAM_LLONG: return double(p.value.l);
    case VIR_TYPED_PARAM_ULLONG: return double(p.value.ul);
    case VIR_TYPED_PARAM_DOUBLE: return p.value.d;
    default: return 0;
  }
}

bool EndsWith(const char* s, const char* suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

struct DomainSample {
  std::string name;
  int state = 0;
  double cpuTimeNs = 0, vcpus = 0, balloonKiB = 0, maxMemoryKiB = 0, rssKiB = 0;
  double rdBytes = 0, wrBytes = 0, rdReqs = 0, wrReqs = 0, rxBytes = 0, txBytes = 0;
  // libvirt reports a live domain's RSS only when it got the domain's query job: without it (a start,
  // migration or snapshot holds the domain) the disk counters are missing too.
  bool sawRss = false;
};

struct NodeSample {
  double kernelNs = 0, userNs = 0, idleNs = 0, iowaitNs = 0;
  double totalKiB = 0, freeKiB = 0, buffersKiB = 0, cachedKiB = 0;
};

void ReadNode(virConnectPtr c, NodeSample& node) {
  int n = 0;
  Check(virNodeGetCPUStats(c, VIR_NODE_CPU_STATS_ALL_CPUS, nullptr, &n, 0));
  std::vector<virNodeCPUStats> cpu(n);
  if (n > 0) Check(virNodeGetCPUStats(c, VIR_NODE_CPU_STATS_ALL_CPUS, cpu.data(), &n, 0));
  for (int i = 0; i < n; i++) {
    const char* f = cpu[i].field;
    double v = double(cpu[i].value);
    if (!strcmp(f, VIR_NODE_CPU_STATS_KERNEL)) node.kernelNs = v;
    else if (!strcmp(f, VIR_NODE_CPU_STATS_USER)) node.userNs = v;
    else if (!strcmp(f, VIR_NODE_CPU_STATS_IDLE)) node.idleNs = v;
    else if (!strcmp(f, VIR_NODE_CPU_STATS_IOWAIT)) node.iowaitNs = v;
  }
  int m = 0;
  Check(virNodeGetMemoryStats(c, VIR_NODE_MEMORY_STATS_ALL_CELLS, nullptr, &m, 0));
  std::vector<virNodeMemoryStats> mem(m);
  if (m > 0) Check(virNodeGetMemoryStats(c, VIR_NODE_MEMORY_STATS_ALL_CELLS, mem.data(), &m, 0));
  for (int i = 0; i < m; i++) {
    const char* f = mem[i].field;
    double v = double(mem[i].value);
    if (!strcmp(f, VIR_NODE_MEMORY_STATS_TOTAL)) node.totalKiB = v;
    else if (!strcmp(f, VIR_NODE_MEMORY_STATS_FREE)) node.freeKiB = v;
    else if (!strcmp(f, VIR_NODE_MEMORY_STATS_BUFFERS)) node.buffersKiB = v;
    else if (!strcmp(f, VIR_NODE_MEMORY_STATS_CACHED)) node.cachedKiB = v;
  }
}

void ReadDomains(virConnectPtr c, std::vector<DomainSample>& out) {
  virDomainStatsRecordPtr* records = nullptr;
  unsigned int stats = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL | VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_VCPU | VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK;
  // NOWAIT: a domain busy in a job (a guest starting, a migration, a snapshot) is reported with what
  // needs no QEMU monitor instead of making this call wait up to 30 s per busy domain. Waiting held one
  // of the connection's native threads per round; under a class provisioning the rounds piled up
  // behind the starts until every thread waited and the quick calls timed out.
  int n = Check(virConnectGetAllDomainStats(c, stats, &records, VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT));
  for (int i = 0; i < n; i++) {
    DomainSample d;
    const char* name = virDomainGetName(records[i]->dom);
    d.name = name ? name : "";
    for (int j = 0; j < records[i]->nparams; j++) {
      const virTypedParameter& p = records[i]->params[j];
      const char* f = p.field;
      double v = NumberParam(p);
      if (!strcmp(f, "state.state")) d.state = int(v);
      else if (!strcmp(f, "cpu.time")) d.cpuTimeNs = v;
      else if (!strcmp(f, "vcpu.current")) d.vcpus = v;
      else if (!strcmp(f, "balloon.current")) d.balloonKiB = v;
      else if (!strcmp(f, "balloon.maximum")) d.maxMemoryKiB = v;
      else if (!strcmp(f, "balloon.rss")) {
        d.rssKiB = v;
        d.sawRss = true;
      }
      else if (!strncmp(f, "block.", 6)) {
        // Per disk "block.N.rd.bytes" etc.; "block.count" and backing-chain entries have other suffixes.
        if (EndsWith(f, ".rd.bytes")) d.rdBytes += v;
        else if (EndsWith(f, ".wr.bytes")) d.wrBytes += v;
        else if (EndsWith(f, ".rd.reqs")) d.rdReqs += v;
        else if (EndsWith(f, ".wr.reqs")) d.wrReqs += v;
      } else if (!strncmp(f, "net.", 4)) {
        if (EndsWith(f, ".rx.bytes")) d.rxBytes += v;
        else if (EndsWith(f, ".tx.bytes")) d.txBytes += v;
      }
    }
    out.push_back(d);
  }
  virDomainStatsRecordListFree(records);
}

}  // namespace

Napi::Value Connection::MetricsSample(const Napi::CallbackInfo& info) {
  return Submit(info.Env(), [](virConnectPtr c) -> Completion {
    NodeSample node;
    ReadNode(c, node);
    std::vector<DomainSample> domains;
    ReadDomains(c, domains);
    return [node, domains](Napi::Env env) {
      Napi::Object o = Napi::Object::New(env);
      Napi::Object n = Napi::Object::New(env);
      n.Set("kernelNs", node.kernelNs);
      n.Set("userNs", node.userNs);
      n.Set("idleNs", node.idleNs);
      n.Set("iowaitNs", node.iowaitNs);
      n.Set("memoryTotalKiB", node.totalKiB);
      n.Set("memoryFreeKiB", node.freeKiB);
      n.Set("memoryBuffersKiB", node.buffersKiB);
      n.Set("memoryCachedKiB", node.cachedKiB);
      o.Set("node", n);
      Napi::Array a = Napi::Array::New(env, domains.size());
      for (size_t i = 0; i < domains.size(); i++) {
        const DomainSample& d = domains[i];
        Napi::Object r = Napi::Object::New(env);
        r.Set("name", d.name);
        r.Set("state", d.state);
        r.Set("cpuTimeNs", d.cpuTimeNs);
        r.Set("vcpus", d.vcpus);
        r.Set("balloonKiB", d.balloonKiB);
        r.Set("maxMemoryKiB", d.maxMemoryKiB);
        r.Set("rssKiB", d.rssKiB);
        r.Set("rdBytes", d.rdBytes);
        r.Set("wrBytes", d.wrBytes);
        r.Set("rdReqs", d.rdReqs);
        r.Set("wrReqs", d.wrReqs);
        r.Set("rxBytes", d.rxBytes);
        r.Set("txBytes", d.txBytes);
        bool active = d.state == VIR_DOMAIN_RUNNING || d.state == VIR_DOMAIN_BLOCKED || d.state == VIR_DOMAIN_PAUSED;
        r.Set("partial", active && !d.sawRss);
        a.Set(uint32_t(i), r);
      }
      o.Set("domains", a);
      return o;
    };
  });
}

}  // namespace vmdesk
