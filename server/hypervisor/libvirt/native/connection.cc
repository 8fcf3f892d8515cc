#include "connection.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <thread>
#include <vector>

namespace vmdesk {

using Clock = std::chrono::steady_clock;

void ThrowLastError() {
  virErrorPtr err = virGetLastError();
  if (err == nullptr) throw LibvirtError{VIR_ERR_INTERNAL_ERROR, VIR_FROM_NONE, "unknown libvirt error"};
  LibvirtError copy{err->code, err->domain, err->message ? err->message : ""};
  virResetLastError();
  throw copy;
}

namespace {

int Check(int rc) {
  if (rc < 0) ThrowLastError();
  return rc;
}

template <typename P>
P Need(P p) {
  if (p == nullptr) ThrowLastError();
  return p;
}

// Takes ownership of a string libvirt malloc'ed for us.
std::string Take(char* s) {
  Need(s);
  std::string copy(s);
  free(s);
  return copy;
}

struct DomainFree { void operator()(virDomainPtr p) const { virDomainFree(p); } };
struct PoolFree { void operator()(virStoragePoolPtr p) const { virStoragePoolFree(p); } };
struct VolFree { void operator()(virStorageVolPtr p) const { virStorageVolFree(p); } };
struct SnapshotFree { void operator()(virDomainSnapshotPtr p) const { virDomainSnapshotFree(p); } };
struct NetworkFree { void operator()(virNetworkPtr p) const { virNetworkFree(p); } };
struct NwFilterFree { void operator()(virNWFilterPtr p) const { virNWFilterFree(p); } };
using Domain = std::unique_ptr<virDomain, DomainFree>;
using StoragePool = std::unique_ptr<virStoragePool, PoolFree>;
using StorageVol = std::unique_ptr<virStorageVol, VolFree>;
using Snapshot = std::unique_ptr<virDomainSnapshot, SnapshotFree>;
using Network = std::unique_ptr<virNetwork, NetworkFree>;
using NwFilter = std::unique_ptr<virNWFilter, NwFilterFree>;

Domain LookupDomain(virConnectPtr c, const std::string& name) {
  return Domain(Need(virDomainLookupByName(c, name.c_str())));
}
StoragePool LookupPool(virConnectPtr c, const std::string& name) {
  return StoragePool(Need(virStoragePoolLookupByName(c, name.c_str())));
}
StorageVol LookupVol(virConnectPtr c, const std::string& pool, const std::string& name) {
  StoragePool p = LookupPool(c, pool);
  return StorageVol(Need(virStorageVolLookupByName(p.get(), name.c_str())));
}

Snapshot LookupSnapshot(virConnectPtr c, const std::string& domain, const std::string& name) {
  return Snapshot(Need(virDomainSnapshotLookupByName(LookupDomain(c, domain).get(), name.c_str(), 0)));
}

Completion Undefined() {
  return [](Napi::Env env) { return env.Undefined(); };
}
Completion String(std::string s) {
  return [s](Napi::Env env) { return Napi::String::New(env, s); };
}

Napi::Value ErrorToJs(Napi::Env env, const LibvirtError& e) {
  Napi::Error err = Napi::Error::New(env, e.message);
  err.Set("code", Napi::Number::New(env, e.code));
  err.Set("domain", Napi::Number::New(env, e.domain));
  return err.Value();
}

// virDomainEventType, lowercased; index = enum value.
const char* const kLifecycleEvents[] = {"defined", "undefined", "started",     "suspended", "resumed",
                                        "stopped", "shutdown",  "pmsuspended", "crashed"};
const char* const kCloseReasons[] = {"error", "eof", "keepalive", "client"};

// Event callbacks run on libvirt's event-loop thread (see addon.cc); they only copy and post.
void OnLifecycle(virConnectPtr, virDomainPtr dom, int event, int detail, void* opaque) {
  auto sink = *static_cast<std::shared_ptr<Sink>*>(opaque);
  const char* rawName = virDomainGetName(dom);
  std::string name = rawName ? rawName : "";
  char uuid[VIR_UUID_STRING_BUFLEN] = {0};
  virDomainGetUUIDString(dom, uuid);
  std::string uuidStr = uuid;
  std::string eventName = event >= 0 && event < int(std::size(kLifecycleEvents))
                              ? kLifecycleEvents[event]
                              : "unknown";
  sink->Post([=](Napi::Env env, Napi::Function listener) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("type", "lifecycle");
    e.Set("domainName", name);
    e.Set("uuid", uuidStr);
    e.Set("event", eventName);
    e.Set("detail", detail);
    listener.Call({e});
  });
}

void OnClose(virConnectPtr, int reason, void* opaque) {
  auto sink = *static_cast<std::shared_ptr<Sink>*>(opaque);
  std::string why = reason >= 0 && reason < int(std::size(kCloseReasons)) ? kCloseReasons[reason] : "unknown";
  sink->Post([why](Napi::Env env, Napi::Function listener) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("type", "disconnected");
    e.Set("reason", why);
    listener.Call({e});
  });
}

void AbortStreams(std::map<uint32_t, virStreamPtr>& streams) {
  for (auto& [id, st] : streams) {
    virStreamAbort(st);
    virStreamFree(st);
  }
  streams.clear();
  virResetLastError();
}

void FreeSinkRef(void* opaque) { delete static_cast<std::shared_ptr<Sink>*>(opaque); }

// Unregisters our callbacks and drops our reference. Threads still running a call hold their own
// reference, so the connection really closes when the last of them returns.
void Teardown(virConnectPtr conn, int lifecycleCallbackId) {
  if (lifecycleCallbackId >= 0) virConnectDomainEventDeregisterAny(conn, lifecycleCallbackId);
  virConnectUnregisterCloseCallback(conn, OnClose);
  virConnectClose(conn);
  virResetLastError();
}

void WorkerLoop(std::shared_ptr<Workers> w) {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(w->mu);
      w->idle++;
      w->cv.wait(lock, [&] { return w->stopping || !w->queue.empty(); });
      w->idle--;
      if (w->queue.empty()) {
        w->threads--;
        return;
      }
      job = std::move(w->queue.front());
      w->queue.pop_front();
    }
    job.run(Clock::now() > job.deadline);
  }
}

}  // namespace

Sink::Sink(Napi::Env env, Napi::Function listener)
    : tsfn_(Napi::ThreadSafeFunction::New(env, listener, "vmdesk_libvirt", 0, 1)) {
  tsfn_.Unref(env);
}

void Sink::Post(Fn fn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!alive_) return;
  // Nothing may escape into the TSFN machinery: during environment teardown every JS call fails,
  // and an uncaught C++ exception there would abort the process on exit.
  tsfn_.NonBlockingCall([fn = std::move(fn)](Napi::Env env, Napi::Function listener) {
    try {
      fn(env, listener);
    } catch (...) {
    }
  });
}

bool Sink::Shutdown(bool releaseTsfn) {
  std::lock_guard<std::mutex> lock(mu_);
  bool was = alive_;
  if (alive_ && releaseTsfn) tsfn_.Release();
  alive_ = false;
  return was;
}

bool Workers::Enqueue(Job job, bool force) {
  std::lock_guard<std::mutex> lock(mu);
  if (closing && !force) return false;
  queue.push_back(std::move(job));
  // Grow lazily, up to maxThreads: one slow call (a 30 s QEMU monitor wait, say) must not hold up
  // the others, but a dead host can never take more than maxThreads threads.
  if (idle < queue.size() && threads < maxThreads) {
    threads++;
    std::thread(WorkerLoop, shared_from_this()).detach();
  }
  cv.notify_one();
  return true;
}

virConnectPtr Workers::Borrow() {
  // virConnectRef only bumps a counter; it is the one libvirt call we make under our mutex.
  std::lock_guard<std::mutex> lock(mu);
  if (conn != nullptr) virConnectRef(conn);
  return conn;
}

Napi::Function Connection::Define(Napi::Env env) {
  return DefineClass(env, "Connection",
                     {
                         InstanceMethod<&Connection::Open>("open"),
                         InstanceMethod<&Connection::Close>("close"),
                         InstanceMethod<&Connection::ThreadCount>("threadCount"),
                         InstanceMethod<&Connection::HostFacts>("hostFacts"),
                         InstanceMethod<&Connection::ListDomains>("listDomains"),
                         InstanceMethod<&Connection::DomainState>("domainState"),
                         InstanceMethod<&Connection::DomainXml>("domainXml"),
                         InstanceMethod<&Connection::DefineDomain>("defineDomain"),
                         InstanceMethod<&Connection::DomainOp>("domainOp"),
                         InstanceMethod<&Connection::DivideLiveCpuShares>("divideLiveCpuShares"),
                         InstanceMethod<&Connection::DomainResize>("domainResize"),
                         InstanceMethod<&Connection::ResizeVolume>("resizeVolume"),
                         InstanceMethod<&Connection::EnsurePool>("ensurePool"),
                         InstanceMethod<&Connection::CreateVolume>("createVolume"),
                         InstanceMethod<&Connection::VolumePath>("volumePath"),
                         InstanceMethod<&Connection::DeleteVolume>("deleteVolume"),
                         InstanceMethod<&Connection::CreateSnapshot>("createSnapshot"),
                         InstanceMethod<&Connection::SnapshotXml>("snapshotXml"),
                         InstanceMethod<&Connection::ListSnapshotXmls>("listSnapshotXmls"),
                         InstanceMethod<&Connection::RevertSnapshot>("revertSnapshot"),
                         InstanceMethod<&Connection::DeleteSnapshot>("deleteSnapshot"),
                         InstanceMethod<&Connection::EnsureNetwork>("ensureNetwork"),
                         InstanceMethod<&Connection::DeleteNetwork>("deleteNetwork"),
                         InstanceMethod<&Connection::NwFilterXml>("nwFilterXml"),
                         InstanceMethod<&Connection::DefineNwFilter>("defineNwFilter"),
                         InstanceMethod<&Connection::UndefineNwFilter>("undefineNwFilter"),
                         InstanceMethod<&Connection::Migrate>("migrate"),
                         InstanceMethod<&Connection::JobInfo>("jobInfo"),
                         InstanceMethod<&Connection::AbortJob>("abortJob"),
                         InstanceMethod<&Connection::FreePages>("freePages"),
                         InstanceMethod<&Connection::MetricsSample>("metricsSample"),
                         InstanceMethod<&Connection::OpenVolumeDownload>("openVolumeDownload"),
                         InstanceMethod<&Connection::OpenVolumeUpload>("openVolumeUpload"),
                         InstanceMethod<&Connection::StreamRecv>("streamRecv"),
                         InstanceMethod<&Connection::StreamSend>("streamSend"),
                         InstanceMethod<&Connection::StreamFinish>("streamFinish"),
                         InstanceMethod<&Connection::StreamAbort>("streamAbort"),
                         InstanceMethod<&Connection::OpenConsole>("openConsole"),
                         InstanceMethod<&Connection::ConsoleSend>("consoleSend"),
                     });
}

// new Connection(listener, { maxThreads, callTimeoutMs })
Connection::Connection(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<Connection>(info), workers_(std::make_shared<Workers>()) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction() || !info[1].IsObject()) {
    throw Napi::TypeError::New(env, "new Connection(listener, { maxThreads, callTimeoutMs })");
  }
  Napi::Object opts = info[1].As<Napi::Object>();
  workers_->maxThreads = std::max(1u, opts.Get("maxThreads").As<Napi::Number>().Uint32Value());
  callTimeout_ = std::chrono::milliseconds(opts.Get("callTimeoutMs").As<Napi::Number>().Int64Value());
  sink_ = std::make_shared<Sink>(env, info[0].As<Napi::Function>());
  // Registered after the TSFN's own hook, so it runs first (hooks run in reverse order): the sink
  // is dead before Node finalizes the TSFN.
  cleanupHookActive_ = napi_add_env_cleanup_hook(env, OnEnvCleanup, this) == napi_ok;
}

void Connection::OnEnvCleanup(void* self) {
  auto* c = static_cast<Connection*>(self);
  c->cleanupHookActive_ = false;
  c->sink_->Shutdown(false);
  // Worker threads are detached and never joined: a thread stuck in a dead host cannot hold up exit.
  std::lock_guard<std::mutex> lock(c->workers_->mu);
  c->workers_->closing = c->workers_->stopping = true;
  c->workers_->cv.notify_all();
}

Connection::~Connection() {
  if (cleanupHookActive_) napi_remove_env_cleanup_hook(Env(), OnEnvCleanup, this);
  if (!sink_->Shutdown(true)) return;  // environment teardown: touch nothing
  auto w = workers_;
  {
    std::lock_guard<std::mutex> lock(w->mu);
    if (w->closing) return;  // close() already ran or is queued
  }
  // Garbage-collected without close(): close in the background.
  w->Enqueue(Job{Clock::time_point::max(),
                  [w](bool) {
                    virConnectPtr conn;
                    int id;
                    std::map<uint32_t, virStreamPtr> streams;
                    {
                      std::lock_guard<std::mutex> lock(w->mu);
                      conn = w->conn;
                      id = w->lifecycleCallbackId;
                      w->conn = nullptr;
                      streams.swap(w->streams);
                    }
                    AbortStreams(streams);
                    if (conn != nullptr) Teardown(conn, id);
                  }},
             true);
  std::lock_guard<std::mutex> lock(w->mu);
  w->closing = w->stopping = true;
  w->cv.notify_all();
}

// Runs `work` on one of this connection's threads and settles the returned promise on the JS
// thread. The object stays referenced until then so its TSFN outlives the call.
Napi::Value Connection::Submit(Napi::Env env, Work work, bool needsConnection) {
  auto* deferred = new Napi::Promise::Deferred(env);
  Napi::Promise promise = deferred->Promise();
  Ref();
  auto sink = sink_;
  auto w = workers_;
  Connection* self = this;
  auto run = [=](bool expired) {
    Completion done;
    LibvirtError err{0, 0, "call timed out before it started"};
    if (!expired) {
      virConnectPtr conn = w->Borrow();
      try {
        if (needsConnection && conn == nullptr) throw LibvirtError{0, 0, "not connected"};
        done = work(conn);
      } catch (const LibvirtError& e) {
        err = e;
      }
      if (conn != nullptr) virConnectClose(conn);
    }
    sink->Post([=](Napi::Env env, Napi::Function) {
      std::unique_ptr<Napi::Promise::Deferred> own(deferred);
      self->Unref();
      try {
        if (done) {
          deferred->Resolve(done(env));
          return;
        }
      } catch (const Napi::Error& e) {
        deferred->Reject(e.Value());
        return;
      }
      deferred->Reject(ErrorToJs(env, err));
    });
  };
  if (!w->Enqueue(Job{Clock::now() + callTimeout_, run})) {
    deferred->Reject(ErrorToJs(env, {0, 0, "connection closed"}));
    delete deferred;
    Unref();
  }
  return promise;
}

// open(uri, keepaliveIntervalS, keepaliveCount): opens, arms keepalive, subscribes to close and
// lifecycle events. Open connections off the JS thread: a host that never answers hangs here.
Napi::Value Connection::Open(const Napi::CallbackInfo& info) {
  std::string uri = info[0].As<Napi::String>();
  int interval = info[1].As<Napi::Number>().Int32Value();
  unsigned count = info[2].As<Napi::Number>().Uint32Value();
  auto sink = sink_;
  auto w = workers_;
  Work work = [=](virConnectPtr) -> Completion {
    virConnectPtr conn = Need(virConnectOpen(uri.c_str()));
    int id = -1;
    try {
      if (interval > 0) Check(virConnectSetKeepAlive(conn, interval, count));
      auto* closeRef = new std::shared_ptr<Sink>(sink);
      if (virConnectRegisterCloseCallback(conn, OnClose, closeRef, FreeSinkRef) < 0) {
        delete closeRef;
        ThrowLastError();
      }
      auto* eventRef = new std::shared_ptr<Sink>(sink);
      id = virConnectDomainEventRegisterAny(conn, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                            VIR_DOMAIN_EVENT_CALLBACK(OnLifecycle), eventRef, FreeSinkRef);
      if (id < 0) {
        delete eventRef;
        ThrowLastError();
      }
    } catch (const LibvirtError&) {
      Teardown(conn, id);
      throw;
    }
    {
      std::lock_guard<std::mutex> lock(w->mu);
      if (!w->closing && w->conn == nullptr) {
        w->conn = conn;
        w->lifecycleCallbackId = id;
        return Undefined();
      }
    }
    Teardown(conn, id);  // closed (or opened twice) while we were connecting
    throw LibvirtError{0, 0, "connection closed while opening"};
  };
  return Submit(info.Env(), work, false);
}

// close(): resolves once our reference is dropped. Later calls reject at once.
Napi::Value Connection::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* deferred = new Napi::Promise::Deferred(env);
  Napi::Promise promise = deferred->Promise();
  Ref();
  auto sink = sink_;
  auto w = workers_;
  Connection* self = this;
  w->Enqueue(Job{Clock::time_point::max(),
                  [=](bool) {
                    virConnectPtr conn;
                    int id;
                    std::map<uint32_t, virStreamPtr> streams;
                    {
                      std::lock_guard<std::mutex> lock(w->mu);
                      conn = w->conn;
                      id = w->lifecycleCallbackId;
                      w->conn = nullptr;
                      w->stopping = true;
                      streams.swap(w->streams);
                      w->cv.notify_all();
                    }
                    AbortStreams(streams);
                    if (conn != nullptr) Teardown(conn, id);
                    sink->Post([=](Napi::Env env, Napi::Function) {
                      std::unique_ptr<Napi::Promise::Deferred> own(deferred);
                      self->Unref();
                      deferred->Resolve(env.Undefined());
                    });
                  }},
             true);
  std::lock_guard<std::mutex> lock(w->mu);
  w->closing = true;
  return promise;
}

Napi::Value Connection::ThreadCount(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(workers_->mu);
  return Napi::Number::New(info.Env(), workers_->threads);
}

Napi::Value Connection::HostFacts(const Napi::CallbackInfo& info) {
  return Submit(info.Env(), [](virConnectPtr c) -> Completion {
    virNodeInfo node;
    Check(virNodeGetInfo(c, &node));
    unsigned long long freeBytes = virNodeGetFreeMemory(c);
    if (freeBytes == 0) ThrowLastError();
    std::string hostname = Take(virConnectGetHostname(c));
    unsigned long libVersion = 0, hvVersion = 0;
    Check(virConnectGetLibVersion(c, &libVersion));
    Check(virConnectGetVersion(c, &hvVersion));
    std::string hvType = Need(virConnectGetType(c));  // static string, not ours to free
    // The host's page sizes and hugepage counts per NUMA cell are in its capabilities (cached by libvirt).
    std::string capabilities = Take(virConnectGetCapabilities(c));
    return [=](Napi::Env env) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("hostname", hostname);
      o.Set("cpus", node.cpus);
      o.Set("memoryKiB", double(node.memory));
      o.Set("freeMemoryBytes", double(freeBytes));
      o.Set("libVersion", double(libVersion));
      o.Set("hvVersion", double(hvVersion));
      o.Set("hvType", hvType);
      o.Set("capabilitiesXml", capabilities);
      return o;
    };
  });
}

// Free pages of each size (KiB), summed over the host's NUMA cells (startCell -1).
Napi::Value Connection::FreePages(const Napi::CallbackInfo& info) {
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<unsigned int> sizes;
  for (uint32_t i = 0; i < arr.Length() && i < 16; i++) sizes.push_back(arr.Get(i).As<Napi::Number>().Uint32Value());
  return Submit(info.Env(), [sizes](virConnectPtr c) -> Completion {
    std::vector<unsigned int> pages(sizes);
    std::vector<unsigned long long> counts(sizes.size(), 0);
    if (!pages.empty()) Check(virNodeGetFreePages(c, pages.size(), pages.data(), -1, 1, counts.data(), 0));
    return [counts](Napi::Env env) {
      Napi::Array out = Napi::Array::New(env, counts.size());
      for (size_t i = 0; i < counts.size(); i++) out.Set(uint32_t(i), double(counts[i]));
      return out;
    };
  });
}

// All domains with their state in one round trip (virConnectGetAllDomainStats), rather than one
// virDomainGetState per domain.
Napi::Value Connection::ListDomains(const Napi::CallbackInfo& info) {
  return Submit(info.Env(), [](virConnectPtr c) -> Completion {
    struct Row {
      std::string name, uuid;
      int state;
    };
    virDomainStatsRecordPtr* records = nullptr;
    int n = Check(virConnectGetAllDomainStats(c, VIR_DOMAIN_STATS_STATE, &records, 0));
    std::vector<Row> rows;
    for (int i = 0; i < n; i++) {
      char uuid[VIR_UUID_STRING_BUFLEN] = {0};
      virDomainGetUUIDString(records[i]->dom, uuid);
      int state = VIR_DOMAIN_NOSTATE;
      virTypedParamsGetInt(records[i]->params, records[i]->nparams, "state.state", &state);
      const char* name = virDomainGetName(records[i]->dom);
      rows.push_back({name ? name : "", uuid, state});
    }
    virDomainStatsRecordListFree(records);
    return [rows](Napi::Env env) {
      Napi::Array a = Napi::Array::New(env, rows.size());
      for (size_t i = 0; i < rows.size(); i++) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("name", rows[i].name);
        o.Set("uuid", rows[i].uuid);
        o.Set("state", rows[i].state);
        a.Set(uint32_t(i), o);
      }
      return a;
    };
  });
}

Napi::Value Connection::DomainState(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  return Submit(info.Env(), [name](virConnectPtr c) -> Completion {
    int state = 0, reason = 0;
    Check(virDomainGetState(LookupDomain(c, name).get(), &state, &reason, 0));
    return [state](Napi::Env env) { return Napi::Number::New(env, state); };
  });
}

// migrate(name, destUri, migrationUri, flags): virDomainMigrateToURI3 on this (the source) host.
// `destUri` is the destination daemon as the source daemon reaches it (peer-to-peer); `migrationUri`
// (VIR_MIGRATE_PARAM_URI, may be empty) where the source QEMU sends the guest's state, so the
// destination's own hostname need not resolve from the source. Returns when the guest runs on the
// destination; on failure libvirt leaves it running here. Blocks one of this connection's threads
// for the whole migration (seconds to minutes): callers bound it and abort with abortJob.
// https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainMigrateToURI3
Napi::Value Connection::Migrate(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  std::string destUri = info[1].As<Napi::String>();
  std::string migrationUri = info[2].As<Napi::String>();
  unsigned flags = info[3].As<Napi::Number>().Uint32Value();
  return Submit(info.Env(), [name, destUri, migrationUri, flags](virConnectPtr c) -> Completion {
    auto dom = LookupDomain(c, name);
    virTypedParameterPtr params = nullptr;
    int n = 0, max = 0;
    if (!migrationUri.empty() && virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_URI, migrationUri.c_str()) < 0) {
      virTypedParamsFree(params, n);
      ThrowLastError();
    }
    int rc = virDomainMigrateToURI3(dom.get(), destUri.c_str(), params, n, flags);
    virTypedParamsFree(params, n);
    Check(rc);
    return Undefined();
  });
}

// jobInfo(name) -> { type, elapsedMs, dataTotal, dataProcessed, dataRemaining, memTotal, memProcessed }
// (virDomainGetJobInfo; type is virDomainJobType: 0 none, 1 bounded, 2 unbounded, 3 completed, 4 failed, 5 cancelled)
Napi::Value Connection::JobInfo(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  return Submit(info.Env(), [name](virConnectPtr c) -> Completion {
    virDomainJobInfo job{};
    Check(virDomainGetJobInfo(LookupDomain(c, name).get(), &job));
    return [job](Napi::Env env) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("type", job.type);
      o.Set("elapsedMs", static_cast<double>(job.timeElapsed));
      o.Set("dataTotal", static_cast<double>(job.dataTotal));
      o.Set("dataProcessed", static_cast<double>(job.dataProcessed));
      o.Set("dataRemaining", static_cast<double>(job.dataRemaining));
      o.Set("memTotal", static_cast<double>(job.memTotal));
      o.Set("memProcessed", static_cast<double>(job.memProcessed));
      return o;
    };
  });
}

// abortJob(name): virDomainAbortJob (a migration in progress rolls back; the guest keeps running here).
Napi::Value Connection::AbortJob(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  return Submit(info.Env(), [name](virConnectPtr c) -> Completion {
    Check(virDomainAbortJob(LookupDomain(c, name).get()));
    return Undefined();
  });
}

// domainXml(name, flags): flags are virDomainXMLFlags.
Napi::Value Connection::DomainXml(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  unsigned flags = info[1].As<Napi::Number>().Uint32Value();
  return Submit(info.Env(), [name, flags](virConnectPtr c) -> Completion {
    return String(Take(virDomainGetXMLDesc(LookupDomain(c, name).get(), flags)));
  });
}

// defineDomain(xml) -> uuid
Napi::Value Connection::DefineDomain(const Napi::CallbackInfo& info) {
  std::string xml = info[0].As<Napi::String>();
  return Submit(info.Env(), [xml](virConnectPtr c) -> Completion {
    Domain dom(Need(virDomainDefineXML(c, xml.c_str())));
    char uuid[VIR_UUID_STRING_BUFLEN] = {0};
    Check(virDomainGetUUIDString(dom.get(), uuid));
    return String(uuid);
  });
}

// domainOp(name, op): the single-call lifecycle operations. Idempotency (start when running,
// destroy when absent, ...) is decided in TypeScript from the error code.
Napi::Value Connection::DomainOp(const Napi::CallbackInfo& info) {
  static const std::map<std::string, std::function<int(virDomainPtr)>> ops = {
      {"create", [](virDomainPtr d) { return virDomainCreate(d); }},
      {"shutdown", [](virDomainPtr d) { return virDomainShutdown(d); }},
      {"destroy", [](virDomainPtr d) { return virDomainDestroy(d); }},
      {"reboot", [](virDomainPtr d) { return virDomainReboot(d, 0); }},
      {"suspend", [](virDomainPtr d) { return virDomainSuspend(d); }},
      {"resume", [](virDomainPtr d) { return virDomainResume(d); }},
      {"undefine",
       [](virDomainPtr d) {
         return virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                              VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
       }},
  };
  std::string name = info[0].As<Napi::String>();
  auto op = ops.find(info[1].As<Napi::String>());
  if (op == ops.end()) throw Napi::TypeError::New(info.Env(), "unknown domain operation");
  auto fn = op->second;
  return Submit(info.Env(), [name, fn](virConnectPtr c) -> Completion {
    Check(fn(LookupDomain(c, name).get()));
    return Undefined();
  });
}

// domainResize(name, what, value, live): "vcpus" (count), "memory" (KiB, through the balloon) or
// "disk" (bytes of the guest's first disk, "vda", while it runs). vcpus and memory change the running
// guest and its persistent definition together when `live`, only the definition otherwise.
Napi::Value Connection::DomainResize(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  std::string what = info[1].As<Napi::String>();
  double value = info[2].As<Napi::Number>().DoubleValue();
  bool live = info[3].As<Napi::Boolean>().Value();
  if (what != "vcpus" && what != "memory" && what != "disk") throw Napi::TypeError::New(info.Env(), "unknown resize");
  if (!(value >= 1)) throw Napi::TypeError::New(info.Env(), "resize value must be positive");
  return Submit(info.Env(), [name, what, value, live](virConnectPtr c) -> Completion {
    Domain d = LookupDomain(c, name);
    unsigned int flags = VIR_DOMAIN_AFFECT_CONFIG | (live ? VIR_DOMAIN_AFFECT_LIVE : 0);
    if (what == "vcpus") {
      Check(virDomainSetVcpusFlags(d.get(), static_cast<unsigned int>(value), flags));
    } else if (what == "memory") {
      Check(virDomainSetMemoryFlags(d.get(), static_cast<unsigned long>(value), flags));
    } else {
      Check(virDomainBlockResize(d.get(), "vda", static_cast<unsigned long long>(value), VIR_DOMAIN_BLOCK_RESIZE_BYTES));
    }
    return Undefined();
  });
}

// resizeVolume(pool, name, bytes): grows a volume to `bytes` (never shrinks: libvirt refuses that
// without VIR_STORAGE_VOL_RESIZE_SHRINK, which we never pass).
Napi::Value Connection::ResizeVolume(const Napi::CallbackInfo& info) {
  std::string pool = info[0].As<Napi::String>();
  std::string name = info[1].As<Napi::String>();
  double bytes = info[2].As<Napi::Number>().DoubleValue();
  if (!(bytes >= 1)) throw Napi::TypeError::New(info.Env(), "volume size must be positive");
  return Submit(info.Env(), [pool, name, bytes](virConnectPtr c) -> Completion {
    Check(virStorageVolResize(LookupVol(c, pool, name).get(), static_cast<unsigned long long>(bytes), 0));
    return Undefined();
  });
}

// divideLiveCpuShares(name, divisor) -> the new value: the running domain's CPU weight divided by
// `divisor`, live only (the persistent definition is left alone). Relative to what the domain started
// with, because the unit differs: cgroup v1 cpu.shares (default 1024) or v2 cpu.weight (default 100),
// which libvirt reports and sets as "cpu_shares" either way. Returns 0 when the host has no such knob.
Napi::Value Connection::DivideLiveCpuShares(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  unsigned long long divisor = static_cast<unsigned long long>(std::max<int64_t>(1, info[1].As<Napi::Number>().Int64Value()));
  return Submit(info.Env(), [name, divisor](virConnectPtr c) -> Completion {
    auto dom = LookupDomain(c, name);
    int n = 0;
    char* type = virDomainGetSchedulerType(dom.get(), &n);
    if (type == nullptr) ThrowLastError();
    std::free(type);
    std::vector<virTypedParameter> params(std::max(n, 1));
    Check(virDomainGetSchedulerParametersFlags(dom.get(), params.data(), &n, VIR_DOMAIN_AFFECT_LIVE));
    unsigned long long current = 0;
    for (int i = 0; i < n; i++) {
      if (std::string(params[i].field) == VIR_DOMAIN_SCHEDULER_CPU_SHARES && params[i].type == VIR_TYPED_PARAM_ULLONG) current = params[i].value.ul;
    }
    virTypedParamsClear(params.data(), n);
    if (current == 0) return [](Napi::Env env) { return Napi::Number::New(env, 0); };
    unsigned long long wanted = std::max<unsigned long long>(2, current / divisor);
    virTypedParameter param{};
    std::snprintf(param.field, VIR_TYPED_PARAM_FIELD_LENGTH, "%s", VIR_DOMAIN_SCHEDULER_CPU_SHARES);
    param.type = VIR_TYPED_PARAM_ULLONG;
    param.value.ul = wanted;
    Check(virDomainSetSchedulerParametersFlags(dom.get(), &param, 1, VIR_DOMAIN_AFFECT_LIVE));
    return [wanted](Napi::Env env) { return Napi::Number::New(env, double(wanted)); };
  });
}

// ensurePool(name, xml): define + autostart if absent; build + start if inactive; refresh if idle.
// One job, so a caller's timeout never leaves half of these steps to run later.
Napi::Value Connection::EnsurePool(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  std::string xml = info[1].As<Napi::String>();
  return Submit(info.Env(), [name, xml](virConnectPtr c) -> Completion {
    StoragePool pool(virStoragePoolLookupByName(c, name.c_str()));
    if (!pool) {
      virErrorPtr err = virGetLastError();
      if (err == nullptr || err->code != VIR_ERR_NO_STORAGE_POOL) ThrowLastError();
      pool.reset(Need(virStoragePoolDefineXML(c, xml.c_str(), 0)));
      Check(virStoragePoolSetAutostart(pool.get(), 1));
    }
    if (Check(virStoragePoolIsActive(pool.get())) == 0) {
      Check(virStoragePoolBuild(pool.get(), 0));  // a dir pool: mkdir, fine if it exists
      Check(virStoragePoolCreate(pool.get(), 0));
    }
    // Best effort: libvirt refuses a refresh while any volume of the pool is being created
    // ("asynchronous jobs running"), which is routine with parallel provisioning. Capacity figures
    // may then be one refresh old; nothing else depends on it.
    if (virStoragePoolRefresh(pool.get(), 0) < 0) virResetLastError();
    virStoragePoolInfo pi;
    Check(virStoragePoolGetInfo(pool.get(), &pi));
    std::string poolXml = Take(virStoragePoolGetXMLDesc(pool.get(), 0));
    return [pi, poolXml](Napi::Env env) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("capacityBytes", double(pi.capacity));
      o.Set("availableBytes", double(pi.available));
      o.Set("xml", poolXml);
      return o;
    };
  });
}

// createVolume(pool, xml) -> path
Napi::Value Connection::CreateVolume(const Napi::CallbackInfo& info) {
  std::string pool = info[0].As<Napi::String>();
  std::string xml = info[1].As<Napi::String>();
  return Submit(info.Env(), [pool, xml](virConnectPtr c) -> Completion {
    StoragePool p = LookupPool(c, pool);
    StorageVol vol(Need(virStorageVolCreateXML(p.get(), xml.c_str(), 0)));
    return String(Take(virStorageVolGetPath(vol.get())));
  });
}

Napi::Value Connection::VolumePath(const Napi::CallbackInfo& info) {
  std::string pool = info[0].As<Napi::String>();
  std::string name = info[1].As<Napi::String>();
  return Submit(info.Env(), [pool, name](virConnectPtr c) -> Completion {
    return String(Take(virStorageVolGetPath(LookupVol(c, pool, name).get())));
  });
}

Napi::Value Connection::DeleteVolume(const Napi::CallbackInfo& info) {
  std::string pool = info[0].As<Napi::String>();
  std::string name = info[1].As<Napi::String>();
  return Submit(info.Env(), [pool, name](virConnectPtr c) -> Completion {
    Check(virStorageVolDelete(LookupVol(c, pool, name).get(), 0));
    return Undefined();
  });
}

// createSnapshot(domain, xml): flags none, so a running qcow2 guest gets an internal snapshot with
// its RAM (QEMU pauses it meanwhile). A duplicate name fails with libvirt's code; the TS layer
// decides idempotency from it.
Napi::Value Connection::CreateSnapshot(const Napi::CallbackInfo& info) {
  std::string domain = info[0].As<Napi::String>();
  std::string xml = info[1].As<Napi::String>();
  return Submit(info.Env(), [domain, xml](virConnectPtr c) -> Completion {
    Snapshot snap(Need(virDomainSnapshotCreateXML(LookupDomain(c, domain).get(), xml.c_str(), 0)));
    return Undefined();
  });
}

Napi::Value Connection::SnapshotXml(const Napi::CallbackInfo& info) {
  std::string domain = info[0].As<Napi::String>();
  std::string name = info[1].As<Napi::String>();
  return Submit(info.Env(), [domain, name](virConnectPtr c) -> Completion {
    return String(Take(virDomainSnapshotGetXMLDesc(LookupSnapshot(c, domain, name).get(), 0)));
  });
}

// listSnapshotXmls(domain) -> the XML of every snapshot, in one job.
Napi::Value Connection::ListSnapshotXmls(const Napi::CallbackInfo& info) {
  std::string domain = info[0].As<Napi::String>();
  return Submit(info.Env(), [domain](virConnectPtr c) -> Completion {
    virDomainSnapshotPtr* raw = nullptr;
    int n = Check(virDomainListAllSnapshots(LookupDomain(c, domain).get(), &raw, 0));
    std::vector<Snapshot> snaps;  // owns every element before anything can throw
    for (int i = 0; i < n; i++) snaps.emplace_back(raw[i]);
    free(raw);
    std::vector<std::string> xmls;
    for (auto& s : snaps) xmls.push_back(Take(virDomainSnapshotGetXMLDesc(s.get(), 0)));
    return [xmls](Napi::Env env) {
      Napi::Array a = Napi::Array::New(env, xmls.size());
      for (size_t i = 0; i < xmls.size(); i++) a.Set(uint32_t(i), xmls[i]);
      return a;
    };
  });
}

// revertSnapshot(domain, name, flags): flags are virDomainSnapshotRevertFlags.
Napi::Value Connection::RevertSnapshot(const Napi::CallbackInfo& info) {
  std::string domain = info[0].As<Napi::String>();
  std::string name = info[1].As<Napi::String>();
  unsigned flags = info[2].As<Napi::Number>().Uint32Value();
  return Submit(info.Env(), [domain, name, flags](virConnectPtr c) -> Completion {
    Check(virDomainRevertToSnapshot(LookupSnapshot(c, domain, name).get(), flags));
    return Undefined();
  });
}

Napi::Value Connection::DeleteSnapshot(const Napi::CallbackInfo& info) {
  std::string domain = info[0].As<Napi::String>();
  std::string name = info[1].As<Napi::String>();
  return Submit(info.Env(), [domain, name](virConnectPtr c) -> Completion {
    Check(virDomainSnapshotDelete(LookupSnapshot(c, domain, name).get(), 0));
    return Undefined();
  });
}

// ensureNetwork(name, xml) -> { name, bridge }: define if absent, autostart, start if inactive. One
// job, so a caller's timeout never leaves half of these steps to run later.
Napi::Value Connection::EnsureNetwork(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  std::string xml = info[1].As<Napi::String>();
  return Submit(info.Env(), [name, xml](virConnectPtr c) -> Completion {
    Network net(virNetworkLookupByName(c, name.c_str()));
    if (!net) {
      virErrorPtr err = virGetLastError();
      if (err == nullptr || err->code != VIR_ERR_NO_NETWORK) ThrowLastError();
      virResetLastError();
      net.reset(Need(virNetworkDefineXML(c, xml.c_str())));
    }
    Check(virNetworkSetAutostart(net.get(), 1));
    if (Check(virNetworkIsActive(net.get())) == 0) Check(virNetworkCreate(net.get()));
    std::string bridge = Take(virNetworkGetBridgeName(net.get()));
    return [name, bridge](Napi::Env env) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", name);
      o.Set("bridge", bridge);
      return o;
    };
  });
}

// deleteNetwork(name): destroy if active, then undefine. Absent: NO_NETWORK, left to the TS layer.
Napi::Value Connection::DeleteNetwork(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  return Submit(info.Env(), [name](virConnectPtr c) -> Completion {
    Network net(Need(virNetworkLookupByName(c, name.c_str())));
    if (Check(virNetworkIsActive(net.get())) == 1) Check(virNetworkDestroy(net.get()));
    Check(virNetworkUndefine(net.get()));
    return Undefined();
  });
}

// nwFilterXml(name) -> the filter's XML. Absent: NO_NWFILTER, left to the TS layer.
Napi::Value Connection::NwFilterXml(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  return Submit(info.Env(), [name](virConnectPtr c) -> Completion {
    NwFilter filter(Need(virNWFilterLookupByName(c, name.c_str())));
    return String(Take(virNWFilterGetXMLDesc(filter.get(), 0)));
  });
}

// defineNwFilter(xml): defines or, for the same name and UUID, redefines a filter (libvirt then
// re-applies it to every running guest that references it).
Napi::Value Connection::DefineNwFilter(const Napi::CallbackInfo& info) {
  std::string xml = info[0].As<Napi::String>();
  return Submit(info.Env(), [xml](virConnectPtr c) -> Completion {
    NwFilter filter(Need(virNWFilterDefineXML(c, xml.c_str())));
    return Undefined();
  });
}

// undefineNwFilter(name). Absent: NO_NWFILTER; still referenced: OPERATION_INVALID (TS decides).
Napi::Value Connection::UndefineNwFilter(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  return Submit(info.Env(), [name](virConnectPtr c) -> Completion {
    NwFilter filter(Need(virNWFilterLookupByName(c, name.c_str())));
    Check(virNWFilterUndefine(filter.get()));
    return Undefined();
  });
}

}  // namespace vmdesk
