// One libvirt connection with its own worker threads. Blocking libvirt calls never run on Node's
// main thread or in the libuv pool: a hung host can only ever stall the threads of its own
// Connection, never file I/O, page loads or other hosts.
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <napi.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace vmdesk {

// A libvirt failure, captured on the thread that saw it (virGetLastError is per-thread).
struct LibvirtError {
  int code;
  int domain;
  std::string message;
};

// Throws the calling thread's last libvirt error as a LibvirtError.
[[noreturn]] void ThrowLastError();

// Delivers closures to the JS thread through one ThreadSafeFunction whose JS function is the
// connection's event listener. Unref'd: an idle connection does not keep the process alive.
// `alive` turns false when the Connection is finalized or the environment tears down; after
// that nothing touches the TSFN again, so a libvirt thread that returns late cannot crash exit.
class Sink {
 public:
  using Fn = std::function<void(Napi::Env, Napi::Function)>;
  Sink(Napi::Env env, Napi::Function listener);
  void Post(Fn fn);
  // JS thread only. Returns whether the sink was still alive.
  bool Shutdown(bool releaseTsfn);

 private:
  std::mutex mu_;
  bool alive_ = true;
  Napi::ThreadSafeFunction tsfn_;
};

// A queued call. It is dropped unstarted once its caller's timeout has passed, so a call that
// timed out in JS never starts later by surprise.
struct Job {
  std::chrono::steady_clock::time_point deadline;
  std::function<void(bool expired)> run;
};

// The state shared by a Connection and its (detached) worker threads.
struct Workers : std::enable_shared_from_this<Workers> {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> queue;
  unsigned threads = 0;
  unsigned idle = 0;
  unsigned maxThreads = 4;
  bool closing = false;   // no new calls accepted
  bool stopping = false;  // threads exit once the queue is empty
  virConnectPtr conn = nullptr;
  int lifecycleCallbackId = -1;
  // Open volume streams (see volume-streams.cc), by the id JS holds. Each holds its own reference
  // to the connection it was opened on; a stream JS forgets is aborted when the connection closes.
  std::map<uint32_t, virStreamPtr> streams;
  uint32_t nextStreamId = 1;

  bool Enqueue(Job job, bool force = false);
  // A new reference to the open connection (or nullptr); the caller closes it.
  virConnectPtr Borrow();
};

// Runs on a worker thread; returns what converts its result to JS on the JS thread.
using Completion = std::function<Napi::Value(Napi::Env)>;
using Work = std::function<Completion(virConnectPtr)>;

class Connection : public Napi::ObjectWrap<Connection> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Connection(const Napi::CallbackInfo& info);
  ~Connection() override;

 private:
  Napi::Value Submit(Napi::Env env, Work work, bool needsConnection = true);
  // Removes the stream from the table (the caller then owns it); throws when the id is unknown.
  virStreamPtr TakeStream(uint32_t id);
  static void OnEnvCleanup(void* self);

  Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value ThreadCount(const Napi::CallbackInfo& info);
  Napi::Value HostFacts(const Napi::CallbackInfo& info);
  Napi::Value FreePages(const Napi::CallbackInfo& info);
  Napi::Value MetricsSample(const Napi::CallbackInfo& info);
  Napi::Value ListDomains(const Napi::CallbackInfo& info);
  Napi::Value DomainState(const Napi::CallbackInfo& info);
  Napi::Value DomainXml(const Napi::CallbackInfo& info);
  Napi::Value DefineDomain(const Napi::CallbackInfo& info);
  Napi::Value DomainOp(const Napi::CallbackInfo& info);
  Napi::Value DomainResize(const Napi::CallbackInfo& info);
  Napi::Value ResizeVolume(const Napi::CallbackInfo& info);
  Napi::Value DivideLiveCpuShares(const Napi::CallbackInfo& info);
  Napi::Value EnsurePool(const Napi::CallbackInfo& info);
  Napi::Value CreateVolume(const Napi::CallbackInfo& info);
  Napi::Value VolumePath(const Napi::CallbackInfo& info);
  Napi::Value DeleteVolume(const Napi::CallbackInfo& info);
  Napi::Value CreateSnapshot(const Napi::CallbackInfo& info);
  Napi::Value SnapshotXml(const Napi::CallbackInfo& info);
  Napi::Value ListSnapshotXmls(const Napi::CallbackInfo& info);
  Napi::Value RevertSnapshot(const Napi::CallbackInfo& info);
  Napi::Value DeleteSnapshot(const Napi::CallbackInfo& info);
  Napi::Value EnsureNetwork(const Napi::CallbackInfo& info);
  Napi::Value DeleteNetwork(const Napi::CallbackInfo& info);
  Napi::Value NwFilterXml(const Napi::CallbackInfo& info);
  Napi::Value DefineNwFilter(const Napi::CallbackInfo& info);
  Napi::Value UndefineNwFilter(const Napi::CallbackInfo& info);
  Napi::Value Migrate(const Napi::CallbackInfo& info);
  Napi::Value JobInfo(const Napi::CallbackInfo& info);
  Napi::Value AbortJob(const Napi::CallbackInfo& info);
  Napi::Value OpenVolumeDownload(const Napi::CallbackInfo& info);
  Napi::Value OpenVolumeUpload(const Napi::CallbackInfo& info);
  Napi::Value StreamRecv(const Napi::CallbackInfo& info);
  Napi::Value StreamSend(const Napi::CallbackInfo& info);
  Napi::Value StreamFinish(const Napi::CallbackInfo& info);
  Napi::Value StreamAbort(const Napi::CallbackInfo& info);
  Napi::Value OpenConsole(const Napi::CallbackInfo& info);
  Napi::Value ConsoleSend(const Napi::CallbackInfo& info);

  std::shared_ptr<Workers> workers_;
  std::shared_ptr<Sink> sink_;
  std::chrono::milliseconds callTimeout_{30000};
  bool cleanupHookActive_ = false;
};

}  // namespace vmdesk
