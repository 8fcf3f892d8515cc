// Volume download and upload through libvirt streams (virStorageVolDownload / virStorageVolUpload):
// how an image reaches another host's pool over the same authenticated connection the portal
// already holds, with no scp and no second transport. Blocking streams, one chunk per call: each
// call runs on the connection's own threads under its call timeout like every other call, and JS
// decides the pace (hashing, progress, the other host's upload).
#include <cstdlib>
#include <thread>
#include <vector>

#include "connection.h"

namespace vmdesk {

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

// One reference to a stream, dropped when it goes out of scope (never copied: that would drop it twice).
struct StreamRef {
  explicit StreamRef(virStreamPtr s) : st(s) {}
  StreamRef(const StreamRef&) = delete;
  StreamRef& operator=(const StreamRef&) = delete;
  ~StreamRef() { virStreamFree(st); }
  virStreamPtr st;
};

// A new reference to stream `id` (the table keeps its own), or an error naming the id.
std::unique_ptr<StreamRef> Borrow(const std::shared_ptr<Workers>& w, uint32_t id) {
  std::lock_guard<std::mutex> lock(w->mu);
  auto it = w->streams.find(id);
  if (it == w->streams.end()) throw LibvirtError{0, 0, "no such stream (finished, aborted or its connection closed)"};
  virStreamRef(it->second);
  return std::make_unique<StreamRef>(it->second);
}

uint32_t Keep(const std::shared_ptr<Workers>& w, virStreamPtr st) {
  std::lock_guard<std::mutex> lock(w->mu);
  uint32_t id = w->nextStreamId++;
  w->streams[id] = st;
  return id;
}

// The most a single streamRecv may ask for: JS reads in chunks, never a whole image at once.
constexpr uint32_t kMaxChunk = 8u << 20;

}  // namespace

virStreamPtr Connection::TakeStream(uint32_t id) {
  std::lock_guard<std::mutex> lock(workers_->mu);
  auto it = workers_->streams.find(id);
  if (it == workers_->streams.end()) return nullptr;
  virStreamPtr st = it->second;
  workers_->streams.erase(it);
  return st;
}

// openVolumeDownload(path) -> { id, bytes }: the file as stored (for qcow2 its physical size, not
// the virtual disk). The path must belong to one of the host's pools.
Napi::Value Connection::OpenVolumeDownload(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>();
  auto w = workers_;
  return Submit(info.Env(), [w, path](virConnectPtr c) -> Completion {
    virStorageVolPtr vol = Need(virStorageVolLookupByPath(c, path.c_str()));
    std::unique_ptr<virStorageVol, int (*)(virStorageVolPtr)> own(vol, virStorageVolFree);
    virStorageVolInfo vi{};
    Check(virStorageVolGetInfoFlags(vol, &vi, VIR_STORAGE_VOL_GET_PHYSICAL));
    virStreamPtr st = Need(virStreamNew(c, 0));
    if (virStorageVolDownload(vol, st, 0, 0, 0) < 0) {
      virStreamFree(st);
      ThrowLastError();
    }
    uint32_t id = Keep(w, st);
    double bytes = static_cast<double>(vi.allocation);
    return [id, bytes](Napi::Env env) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("id", id);
      o.Set("bytes", bytes);
      return o;
    };
  });
}

// openVolumeUpload(pool, name, bytes) -> id: the volume's content is replaced by what is sent.
Napi::Value Connection::OpenVolumeUpload(const Napi::CallbackInfo& info) {
  std::string pool = info[0].As<Napi::String>();
  std::string name = info[1].As<Napi::String>();
  unsigned long long bytes = static_cast<unsigned long long>(info[2].As<Napi::Number>().Int64Value());
  auto w = workers_;
  return Submit(info.Env(), [w, pool, name, bytes](virConnectPtr c) -> Completion {
    std::unique_ptr<virStoragePool, int (*)(virStoragePoolPtr)> p(Need(virStoragePoolLookupByName(c, pool.c_str())), virStoragePoolFree);
    std::unique_ptr<virStorageVol, int (*)(virStorageVolPtr)> vol(Need(virStorageVolLookupByName(p.get(), name.c_str())), virStorageVolFree);
    virStreamPtr st = Need(virStreamNew(c, 0));
    if (virStorageVolUpload(vol.get(), st, 0, bytes, 0) < 0) {
      virStreamFree(st);
      ThrowLastError();
    }
    uint32_t id = Keep(w, st);
    return [id](Napi::Env env) { return Napi::Number::New(env, id); };
  });
}

// streamRecv(id, maxBytes) -> Buffer; empty at the end of the stream.
Napi::Value Connection::StreamRecv(const Napi::CallbackInfo& info) {
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  uint32_t max = std::min(kMaxChunk, std::max(1u, info[1].As<Napi::Number>().Uint32Value()));
  auto w = workers_;
  return Submit(info.Env(), [w, id, max](virConnectPtr) -> Completion {
    auto ref = Borrow(w, id);
    auto data = std::make_shared<std::vector<char>>(max);
    int n = Check(virStreamRecv(ref->st, data->data(), max));
    data->resize(static_cast<size_t>(n));
    return [data](Napi::Env env) { return Napi::Buffer<char>::Copy(env, data->data(), data->size()); };
  });
}

// streamSend(id, buffer): sends all of it.
Napi::Value Connection::StreamSend(const Napi::CallbackInfo& info) {
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  auto buf = info[1].As<Napi::Buffer<char>>();
  auto data = std::make_shared<std::vector<char>>(buf.Data(), buf.Data() + buf.Length());
  auto w = workers_;
  return Submit(info.Env(), [w, id, data](virConnectPtr) -> Completion {
    auto ref = Borrow(w, id);
    size_t sent = 0;
    while (sent < data->size()) sent += static_cast<size_t>(Check(virStreamSend(ref->st, data->data() + sent, data->size() - sent)));
    return [](Napi::Env env) { return env.Undefined(); };
  });
}

// streamFinish(id): completes the transfer (an upload is durable on the host when it resolves).
Napi::Value Connection::StreamFinish(const Napi::CallbackInfo& info) {
  virStreamPtr st = TakeStream(info[0].As<Napi::Number>().Uint32Value());
  return Submit(info.Env(), [st](virConnectPtr) -> Completion {
    if (st == nullptr) throw LibvirtError{0, 0, "no such stream (finished, aborted or its connection closed)"};
    virStreamEventRemoveCallback(st);  // a console's: nothing more is read once it is finishing
    virResetLastError();
    int rc = virStreamFinish(st);
    if (rc < 0) {
      LibvirtError err{0, 0, ""};
      try {
        ThrowLastError();
      } catch (const LibvirtError& e) {
        err = e;
      }
      virStreamAbort(st);
      virStreamFree(st);
      throw err;
    }
    virStreamFree(st);
    return [](Napi::Env env) { return env.Undefined(); };
  }, false);
}

// streamAbort(id): no-op when the stream is already gone.
Napi::Value Connection::StreamAbort(const Napi::CallbackInfo& info) {
  virStreamPtr st = TakeStream(info[0].As<Napi::Number>().Uint32Value());
  return Submit(info.Env(), [st](virConnectPtr) -> Completion {
    if (st != nullptr) {
      virStreamEventRemoveCallback(st);  // fails harmlessly on streams that never had one
      virStreamAbort(st);
      virStreamFree(st);
      virResetLastError();
    }
    return [](Napi::Env env) { return env.Undefined(); };
  }, false);
}

// ---------------------------------------------------------------------------------------------
// Console streams (virDomainOpenConsole): non-blocking, read on libvirt's event-loop thread as data
// arrives and posted to JS as { type: "stream", id, data } events; { type: "stream", id, end: true,
// error? } once the console closes. A console idles for hours: it must never hold a worker thread.

namespace {

struct ConsoleWatch {
  std::shared_ptr<Sink> sink;
  uint32_t id;
};

void PostEnd(const ConsoleWatch& w, std::string error) {
  uint32_t id = w.id;
  w.sink->Post([id, error](Napi::Env env, Napi::Function listener) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("type", "stream");
    e.Set("id", id);
    e.Set("end", true);
    if (!error.empty()) e.Set("error", error);
    listener.Call({e});
  });
}

// At most this much is read per wake-up, so one chatty console cannot monopolise the event loop.
constexpr int kConsoleReadPerEvent = 256 * 1024;

void OnConsoleEvent(virStreamPtr st, int events, void* opaque) {
  const ConsoleWatch& w = *static_cast<ConsoleWatch*>(opaque);
  if (events & VIR_STREAM_EVENT_READABLE) {
    int budget = kConsoleReadPerEvent;
    while (budget > 0) {
      auto data = std::make_shared<std::vector<char>>(64 * 1024);
      int n = virStreamRecv(st, data->data(), data->size());
      if (n == -2) break;
      if (n <= 0) {
        std::string why;
        if (n < 0) {
          virErrorPtr err = virGetLastError();
          why = err && err->message ? err->message : "console stream failed";
          virResetLastError();
        }
        PostEnd(w, why);  // before the removal, which may free `w`
        virStreamEventRemoveCallback(st);
        return;
      }
      data->resize(static_cast<size_t>(n));
      budget -= n;
      uint32_t id = w.id;
      w.sink->Post([id, data](Napi::Env env, Napi::Function listener) {
        Napi::Object e = Napi::Object::New(env);
        e.Set("type", "stream");
        e.Set("id", id);
        e.Set("data", Napi::Buffer<char>::Copy(env, data->data(), data->size()));
        listener.Call({e});
      });
    }
  }
  if (events & (VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP)) {
    PostEnd(w, events & VIR_STREAM_EVENT_ERROR ? "console stream error" : "");
    virStreamEventRemoveCallback(st);
  }
}

void FreeConsoleWatch(void* opaque) { delete static_cast<ConsoleWatch*>(opaque); }

}  // namespace

// openConsole(domain, force) -> id. `force` takes the console from whoever holds it.
Napi::Value Connection::OpenConsole(const Napi::CallbackInfo& info) {
  std::string domain = info[0].As<Napi::String>();
  bool force = info[1].As<Napi::Boolean>().Value();
  auto w = workers_;
  auto sink = sink_;
  return Submit(info.Env(), [w, sink, domain, force](virConnectPtr c) -> Completion {
    std::unique_ptr<virDomain, int (*)(virDomainPtr)> dom(Need(virDomainLookupByName(c, domain.c_str())), virDomainFree);
    virStreamPtr st = Need(virStreamNew(c, VIR_STREAM_NONBLOCK));
    if (virDomainOpenConsole(dom.get(), nullptr, st, force ? VIR_DOMAIN_CONSOLE_FORCE : 0) < 0) {
      virStreamFree(st);
      ThrowLastError();
    }
    uint32_t id = Keep(w, st);
    auto* watch = new ConsoleWatch{sink, id};
    if (virStreamEventAddCallback(st, VIR_STREAM_EVENT_READABLE | VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP, OnConsoleEvent, watch, FreeConsoleWatch) < 0) {
      delete watch;
      LibvirtError err{0, 0, "console stream: cannot watch it"};
      virErrorPtr e = virGetLastError();
      if (e) err = {e->code, e->domain, e->message ? e->message : ""};
      virResetLastError();
      if (virStreamPtr taken = [&] {
            std::lock_guard<std::mutex> lock(w->mu);
            auto it = w->streams.find(id);
            virStreamPtr p = it == w->streams.end() ? nullptr : it->second;
            if (p) w->streams.erase(it);
            return p;
          }()) {
        virStreamAbort(taken);
        virStreamFree(taken);
      }
      throw err;
    }
    return [id](Napi::Env env) { return Napi::Number::New(env, id); };
  });
}

// consoleSend(id, buffer): writes input to a console (non-blocking stream: retried briefly while full).
Napi::Value Connection::ConsoleSend(const Napi::CallbackInfo& info) {
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  auto buf = info[1].As<Napi::Buffer<char>>();
  auto data = std::make_shared<std::vector<char>>(buf.Data(), buf.Data() + buf.Length());
  auto w = workers_;
  return Submit(info.Env(), [w, id, data](virConnectPtr) -> Completion {
    auto ref = Borrow(w, id);
    size_t sent = 0;
    auto giveUp = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (sent < data->size()) {
      int n = virStreamSend(ref->st, data->data() + sent, data->size() - sent);
      if (n == -2) {
        if (std::chrono::steady_clock::now() > giveUp) throw LibvirtError{0, 0, "console input: the guest is not reading"};
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      sent += static_cast<size_t>(Check(n));
    }
    return [](Napi::Env env) { return env.Undefined(); };
  });
}

}  // namespace vmdesk
