#include "tools/clawctl/watch_command.h"

#include <condition_variable>
#include <mutex>
#include <sstream>

#include "tools/clawctl/commands.h"
#include "tools/clawctl/format.h"

namespace claw::clawctl {
namespace {

void JsonKv(JsonWriter& json, const client::KeyValue& kv, bool with_value) {
  json.Key("key").Bytes(kv.key);
  if (with_value) json.Key("value").Bytes(kv.value);
  json.Key("mod_ts").Uint64(kv.mod_ts);
  if (with_value) json.Key("version").Uint64(kv.version).Key("create_ts").Uint64(kv.create_ts);
}

std::string FormatEvent(const client::WatchEvent& e, OutputFormat format) {
  const bool put = e.type == client::WatchEvent::Type::kPut;
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject().Key("type").String(put ? "PUT" : "DELETE");
    JsonKv(json, e.kv, put);
    if (e.prev) {
      json.Key("prev").BeginObject();
      JsonKv(json, *e.prev, true);
      json.EndObject();
    }
    json.EndObject();
    return json.str() + "\n";
  }
  std::string line = put ? "PUT " + Escape(e.kv.key) + " " + Escape(e.kv.value) : "DELETE " + Escape(e.kv.key);
  line += " [" + std::to_string(e.kv.mod_ts) + "]";
  if (e.prev) line += " (prev: " + Escape(e.prev->value) + ")";
  return line + "\n";
}

std::string FormatProgress(uint64_t revision, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject().Key("progress_revision").Uint64(revision).EndObject();
    return json.str() + "\n";
  }
  return "PROGRESS " + std::to_string(revision) + "\n";
}

}  // namespace

int RunWatch(const Invocation& inv, client::Client& client, std::ostream& out, std::ostream& err) {
  const std::string& start = inv.args[0];
  std::string end;
  if (inv.prefix) {
    end = client::PrefixEnd(start);
  } else if (inv.range_end) {
    end = *inv.range_end;
  } else {
    end = start + '\0';  // the key alone
  }
  const OutputFormat format = inv.global.format;
  std::mutex mu;
  std::condition_variable cv;
  uint64_t printed = 0;
  bool enough = false;
  client::WatchOptions options{.start_revision = inv.rev, .prev_kv = inv.prev_kv,
                               .progress_interval = inv.progress ? std::chrono::milliseconds(1000)
                                                                 : std::chrono::milliseconds(0)};
  auto watcher = client.Watch(start, end, options, [&](const client::WatchUpdate& u) {
    std::lock_guard lock(mu);
    if (enough) return;
    for (const client::WatchEvent& e : u.events) {
      out << FormatEvent(e, format);
      if (inv.count != 0 && ++printed >= inv.count) {
        enough = true;
        break;
      }
    }
    if (inv.progress && !enough && u.events.empty()) out << FormatProgress(u.progress_revision, format);
    out.flush();
    if (enough) cv.notify_all();
  });
  if (!watcher) {
    err << FormatError(watcher.error());
    return kExitFailed;
  }
  // Ends at --count, at --timeout, or when the watch fails.
  const auto until = inv.watch_timeout ? std::chrono::steady_clock::now() + *inv.watch_timeout
                                       : std::chrono::steady_clock::time_point::max();
  for (;;) {
    {
      std::unique_lock lock(mu);
      if (cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return enough; })) break;
    }
    if ((*watcher)->Done()) {
      err << FormatError((*watcher)->Wait());
      return kExitFailed;
    }
    if (std::chrono::steady_clock::now() >= until) break;
  }
  (*watcher)->Cancel();
  return kExitOk;
}

}  // namespace claw::clawctl
