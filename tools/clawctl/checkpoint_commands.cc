#include "tools/clawctl/checkpoint_commands.h"

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>

#include "tools/clawctl/commands.h"
#include "tools/clawctl/format.h"

namespace claw::clawctl {
namespace {

using client::CheckpointStatus;
using client::ErrorCode;
using std::chrono::milliseconds;

// The session TTL of one command: long enough that a renewal is never late on a busy machine,
// short enough that a command killed midway leaves its handle open only briefly.
constexpr milliseconds kSessionTtl{5000};

uint64_t NowUnixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string_view ReplicationName(client::CheckpointReplication r) {
  switch (r) {
    case client::CheckpointReplication::kSynchronous: return "SYNCHRONOUS";
    case client::CheckpointReplication::kAsynchronous: return "ASYNCHRONOUS";
    case client::CheckpointReplication::kDefault: return "DEFAULT";
  }
  return "?";
}

std::string NodeList(const std::vector<uint64_t>& ids) {
  std::string text;
  for (uint64_t id : ids) text += (text.empty() ? "" : ",") + std::to_string(id);
  return text.empty() ? "-" : text;
}

std::string Ms(uint64_t ms) { return ms == 0 ? "-" : std::to_string(ms); }

void WriteStatus(JsonWriter& json, const CheckpointStatus& s) {
  json.BeginObject().Key("name").String(s.name);
  json.Key("attributes").BeginObject();
  json.Key("replication").String(ReplicationName(s.attributes.replication));
  json.Key("collocated").Bool(s.attributes.collocated);
  json.Key("retention_ms").Uint64(s.attributes.retention_ms);
  json.Key("max_size").Uint64(s.attributes.max_size);
  json.Key("max_sections").Uint64(s.attributes.max_sections);
  json.Key("max_section_size").Uint64(s.attributes.max_section_size);
  json.Key("max_section_id_size").Uint64(s.attributes.max_section_id_size);
  json.EndObject();
  json.Key("created_unix_ms").Uint64(s.created_unix_ms);
  json.Key("size").Uint64(s.size).Key("sections").Uint64(s.sections).Key("sequence").Uint64(s.sequence);
  json.Key("handles").BeginArray();
  for (const client::CheckpointHandleInfo& h : s.handles) {
    json.BeginObject().Key("handle").Uint64(h.handle).Key("session").Uint64(h.session);
    json.Key("read").Bool(h.read).Key("write").Bool(h.write).Key("opened_unix_ms").Uint64(h.opened_unix_ms);
    json.EndObject();
  }
  json.EndArray();
  json.Key("unlinked").Bool(s.unlinked);
  json.Key("closed_unix_ms").Uint64(s.closed_unix_ms).Key("delete_at_unix_ms").Uint64(s.delete_at_unix_ms);
  json.Key("active_node_id").Uint64(s.active_node_id);
  json.Key("replica_node_ids").BeginArray();
  for (uint64_t id : s.replica_node_ids) json.Uint64(id);
  json.EndArray();
  json.Key("preferred_active_node_id").Uint64(s.preferred_active_node_id);
  json.Key("shard_id").Uint64(s.shard_id).EndObject();
}

int CheckpointFailed(const client::Error& error, std::ostream& err) {
  err << FormatError(error);
  if (error.code == ErrorCode::kCheckpointNotFound || error.code == ErrorCode::kCheckpointSectionNotFound) {
    return kExitNotFound;
  }
  return kExitFailed;
}

client::CallOptions OptionsOf(const Invocation& inv) {
  client::CallOptions o;
  o.deadline = inv.global.timeout;
  o.forward = inv.global.forward;
  return o;
}

// A handle of the command's own session; closes it and ends the session when destroyed.
class OneShot {
 public:
  OneShot(client::CheckpointClient& ckpt, const Invocation& inv) : ckpt_(ckpt), inv_(inv) {}
  ~OneShot() {
    if (handle_) (void)handle_->Close(OptionsOf(inv_));
    if (session_) (void)session_->End(OptionsOf(inv_));
  }
  OneShot(const OneShot&) = delete;
  OneShot& operator=(const OneShot&) = delete;

  client::Result<const client::CheckpointHandle*> Open(const client::CheckpointOpenOptions& open) {
    auto session = ckpt_.StartSession(kSessionTtl, OptionsOf(inv_));
    if (!session) return std::unexpected(session.error());
    session_ = std::move(*session);
    auto handle = ckpt_.Open(*session_, inv_.args[0], open, OptionsOf(inv_));
    if (!handle) return std::unexpected(handle.error());
    handle_ = std::move(*handle);
    return &*handle_;
  }

 private:
  client::CheckpointClient& ckpt_;
  const Invocation& inv_;
  std::unique_ptr<client::CheckpointSession> session_;
  std::optional<client::CheckpointHandle> handle_;
};

int RunCreate(const Invocation& inv, client::CheckpointClient& ckpt, std::ostream& out, std::ostream& err) {
  const CheckpointFlags& f = inv.checkpoint;
  client::CheckpointOpenOptions open{.read = true, .write = true, .create = true};
  if (f.synchronous) {
    open.attributes.replication =
        *f.synchronous ? client::CheckpointReplication::kSynchronous : client::CheckpointReplication::kAsynchronous;
  }
  open.attributes.collocated = f.collocated;
  open.attributes.retention_ms = f.retention ? static_cast<uint64_t>(f.retention->count()) : 0;
  open.attributes.max_size = f.max_size;
  open.attributes.max_sections = f.max_sections;
  open.attributes.max_section_size = f.max_section_size;
  open.active_node = f.active_node;
  OneShot shot(ckpt, inv);
  auto handle = shot.Open(open);
  if (!handle) return CheckpointFailed(handle.error(), err);
  if (inv.global.format == OutputFormat::kJson) {
    out << FormatCheckpointStatus((*handle)->status_at_open(), inv.global.format);
  } else {
    const CheckpointStatus& s = (*handle)->status_at_open();
    out << "checkpoint " << inv.args[0] << ((*handle)->created() ? " created" : " exists with these attributes")
        << "; retained " << s.attributes.retention_ms << " ms once no handle is open\n";
  }
  return kExitOk;
}

int RunRead(const Invocation& inv, client::CheckpointClient& ckpt, std::ostream& out, std::ostream& err) {
  OneShot shot(ckpt, inv);
  auto handle = shot.Open({.read = true});
  if (!handle) return CheckpointFailed(handle.error(), err);
  const OutputFormat format = inv.global.format;
  std::vector<client::SectionReadRequest> reads;
  bool raw = inv.args.size() == 2 || (*handle)->status_at_open().attributes.max_sections == 1;
  if (inv.args.size() == 2) {
    reads.push_back({.section_id = inv.args[1]});
  } else if (raw) {
    reads.push_back({.section_id = ""});
  } else {
    auto sections = (*handle)->Iterate(client::SectionFilter::kAny, 0, OptionsOf(inv));
    if (!sections) return CheckpointFailed(sections.error(), err);
    for (const client::SectionInfo& s : *sections) reads.push_back({.section_id = s.section_id});
  }
  client::CheckpointReadResult result;
  if (!reads.empty()) {
    auto got = (*handle)->Read(reads, OptionsOf(inv));
    if (!got) return CheckpointFailed(got.error(), err);
    result = std::move(*got);
  }
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject().Key("sequence").Uint64(result.sequence).Key("sections").BeginArray();
    for (const client::SectionData& s : result.sections) {
      json.BeginObject().Key("id").Bytes(s.section_id).Key("data").Bytes(s.data).Key("size").Uint64(s.section_size);
      json.EndObject();
    }
    json.EndArray().EndObject();
    out << json.str() << "\n";
    return kExitOk;
  }
  if (raw) {
    if (!result.sections.empty()) out << result.sections.front().data;
    return kExitOk;
  }
  Table table({"ID", "SIZE", "DATA"});
  for (const client::SectionData& s : result.sections) {
    table.AddRow({Escape(s.section_id), std::to_string(s.section_size), Escape(s.data)});
  }
  table.Print(out, format);
  return kExitOk;
}

int RunWrite(const Invocation& inv, client::CheckpointClient& ckpt, std::istream& in, std::ostream& out,
             std::ostream& err) {
  const CheckpointFlags& f = inv.checkpoint;
  // NAME [SECTION] VALUE, or NAME [SECTION] --file F.
  const size_t data_args = f.file ? 0 : 1;
  const std::string section = inv.args.size() == 2 + data_args ? inv.args[1] : "";
  std::string data;
  if (f.file) {
    if (*f.file == "-") {
      data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    } else {
      std::ifstream file(*f.file, std::ios::binary);
      if (!file) {
        err << "Error: cannot read --file " << *f.file << "\n";
        return kExitUsage;
      }
      data.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    }
  } else {
    data = inv.args.back();
  }
  OneShot shot(ckpt, inv);
  auto handle = shot.Open({.write = true});
  if (!handle) return CheckpointFailed(handle.error(), err);
  const uint64_t expiration = f.expires ? NowUnixMs() + static_cast<uint64_t>(f.expires->count()) : 0;
  client::CheckpointWriteAck ack;
  bool done = false;
  if (f.create) {
    auto created = (*handle)->CreateSection(
        {.section_id = section, .data = data, .expiration_unix_ms = expiration}, OptionsOf(inv));
    if (created) {
      ack.sequence = created->sequence;
      done = true;
    } else if (created.error().code != ErrorCode::kCheckpointExists) {
      return CheckpointFailed(created.error(), err);
    }
  }
  if (!done) {
    auto written = (*handle)->Overwrite(section, data, OptionsOf(inv));
    if (!written) return CheckpointFailed(written.error(), err);
    ack = *written;
    if (f.expires) {
      auto expiring = (*handle)->SetSectionExpiration(section, expiration, OptionsOf(inv));
      if (!expiring) return CheckpointFailed(expiring.error(), err);
      ack = *expiring;
    }
  }
  if (inv.global.format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject().Key("sequence").Uint64(ack.sequence).Key("revision").Uint64(ack.revision).EndObject();
    out << json.str() << "\n";
  } else {
    out << "OK sequence " << ack.sequence << "\n";
  }
  return kExitOk;
}

int RunDeleteSection(const Invocation& inv, client::CheckpointClient& ckpt, std::ostream& out, std::ostream& err) {
  OneShot shot(ckpt, inv);
  auto handle = shot.Open({.write = true});
  if (!handle) return CheckpointFailed(handle.error(), err);
  auto deleted = (*handle)->DeleteSection(inv.args[1], OptionsOf(inv));
  if (!deleted) return CheckpointFailed(deleted.error(), err);
  if (inv.global.format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject().Key("sequence").Uint64(deleted->sequence).Key("revision").Uint64(deleted->revision).EndObject();
    out << json.str() << "\n";
  } else {
    out << "section " << Escape(inv.args[1]) << " deleted; sequence " << deleted->sequence << "\n";
  }
  return kExitOk;
}

int RunWatchCheckpoint(const Invocation& inv, client::CheckpointClient& ckpt, std::ostream& out,
                       std::ostream& err) {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t printed = 0;
  bool enough = false;
  const OutputFormat format = inv.global.format;
  auto follower = ckpt.Follow(
      inv.args[0], {.from_sequence = inv.checkpoint.from_sequence},
      [&](const client::CheckpointUpdate& u) {
        std::lock_guard lock(mu);
        if (enough) return;
        out << FormatCheckpointUpdate(u, format) << std::flush;
        if (inv.count != 0 && ++printed >= inv.count) {
          enough = true;
          cv.notify_all();
        }
      },
      OptionsOf(inv));
  if (!follower) return CheckpointFailed(follower.error(), err);
  const auto until = inv.watch_timeout ? std::chrono::steady_clock::now() + *inv.watch_timeout
                                       : std::chrono::steady_clock::time_point::max();
  for (;;) {
    {
      std::unique_lock lock(mu);
      if (cv.wait_for(lock, milliseconds(100), [&] { return enough; })) break;
    }
    if ((*follower)->Done()) return CheckpointFailed((*follower)->Wait(), err);
    if (std::chrono::steady_clock::now() >= until) break;
  }
  (*follower)->Cancel();
  return kExitOk;
}

}  // namespace

std::string FormatCheckpointStatus(const CheckpointStatus& s, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    WriteStatus(json, s);
    return json.str() + "\n";
  }
  const client::CheckpointAttributes& a = s.attributes;
  Table table({"FIELD", "VALUE"});
  table.AddRow({"name", s.name});
  table.AddRow({"replication", std::string(ReplicationName(a.replication))});
  table.AddRow({"collocated", a.collocated ? "yes" : "no"});
  table.AddRow({"retention_ms", std::to_string(a.retention_ms)});
  table.AddRow({"max_size", std::to_string(a.max_size)});
  table.AddRow({"max_sections", std::to_string(a.max_sections)});
  table.AddRow({"max_section_size", std::to_string(a.max_section_size)});
  table.AddRow({"size", std::to_string(s.size)});
  table.AddRow({"sections", std::to_string(s.sections)});
  table.AddRow({"sequence", std::to_string(s.sequence)});
  std::string handles;
  for (const client::CheckpointHandleInfo& h : s.handles) {
    handles += (handles.empty() ? "" : " ") + std::to_string(h.handle) + "(" + (h.read ? "r" : "") +
               (h.write ? "w" : "") + ",session " + std::to_string(h.session) + ")";
  }
  table.AddRow({"handles", handles.empty() ? "-" : handles});
  table.AddRow({"unlinked", s.unlinked ? "yes" : "no"});
  table.AddRow({"closed_unix_ms", Ms(s.closed_unix_ms)});
  table.AddRow({"delete_at_unix_ms", Ms(s.delete_at_unix_ms)});
  table.AddRow({"active_node", Ms(s.active_node_id)});
  table.AddRow({"preferred_active_node", Ms(s.preferred_active_node_id)});
  table.AddRow({"replicas", NodeList(s.replica_node_ids)});
  table.AddRow({"shard", std::to_string(s.shard_id)});
  std::ostringstream out;
  table.Print(out, format);
  return out.str();
}

std::string FormatCheckpointList(const std::vector<CheckpointStatus>& list, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject().Key("checkpoints").BeginArray();
    for (const CheckpointStatus& s : list) WriteStatus(json, s);
    json.EndArray().EndObject();
    return json.str() + "\n";
  }
  Table table({"NAME", "REPLICATION", "SIZE", "SECTIONS", "SEQUENCE", "HANDLES", "DELETE_AT", "ACTIVE", "SHARD"});
  for (const CheckpointStatus& s : list) {
    table.AddRow({s.name, std::string(ReplicationName(s.attributes.replication)), std::to_string(s.size),
                  std::to_string(s.sections), std::to_string(s.sequence), std::to_string(s.handles.size()),
                  Ms(s.delete_at_unix_ms), Ms(s.active_node_id), std::to_string(s.shard_id)});
  }
  std::ostringstream out;
  table.Print(out, format);
  return out.str();
}

std::string FormatCheckpointUpdate(const client::CheckpointUpdate& u, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject().Key("sequence").Uint64(u.sequence).Key("revision").Uint64(u.revision);
    json.Key("snapshot").Bool(u.snapshot).Key("deleted").Bool(u.deleted);
    json.Key("sections").BeginArray();
    for (const client::SectionChange& c : u.sections) {
      json.BeginObject().Key("id").Bytes(c.section_id).Key("deleted").Bool(c.deleted);
      if (!c.deleted) json.Key("data").Bytes(c.data).Key("expiration_unix_ms").Uint64(c.expiration_unix_ms);
      json.EndObject();
    }
    json.EndArray().Key("handles_opened").BeginArray();
    for (uint64_t h : u.handles_opened) json.Uint64(h);
    json.EndArray().Key("handles_closed").BeginArray();
    for (uint64_t h : u.handles_closed) json.Uint64(h);
    json.EndArray().EndObject();
    return json.str() + "\n";
  }
  std::string line = (u.snapshot ? "SNAPSHOT " : "") + std::to_string(u.sequence) + " [" +
                     std::to_string(u.revision) + "]";
  for (const client::SectionChange& c : u.sections) {
    line += c.deleted ? " -" + Escape(c.section_id) : " " + Escape(c.section_id) + "=" + Escape(c.data);
  }
  for (uint64_t h : u.handles_opened) line += " +handle:" + std::to_string(h);
  for (uint64_t h : u.handles_closed) line += " -handle:" + std::to_string(h);
  if (u.deleted) line += " DELETED";
  return line + "\n";
}

int RunCheckpointCommand(const Invocation& inv, client::Client& client, std::istream& in, std::ostream& out,
                         std::ostream& err) {
  client::CheckpointClient ckpt(client);
  const OutputFormat format = inv.global.format;
  switch (inv.command) {
    case Command::kCheckpointCreate: return RunCreate(inv, ckpt, out, err);
    case Command::kCheckpointList: {
      auto list = ckpt.List(OptionsOf(inv));
      if (!list) return CheckpointFailed(list.error(), err);
      out << FormatCheckpointList(*list, format);
      return kExitOk;
    }
    case Command::kCheckpointShow: {
      auto status = ckpt.Status(inv.args[0], OptionsOf(inv));
      if (!status) return CheckpointFailed(status.error(), err);
      out << FormatCheckpointStatus(*status, format);
      return kExitOk;
    }
    case Command::kCheckpointRead: return RunRead(inv, ckpt, out, err);
    case Command::kCheckpointWrite: return RunWrite(inv, ckpt, in, out, err);
    case Command::kCheckpointDeleteSection: return RunDeleteSection(inv, ckpt, out, err);
    case Command::kCheckpointUnlink: {
      auto unlinked = ckpt.Unlink(inv.args[0], OptionsOf(inv));
      if (!unlinked) return CheckpointFailed(unlinked.error(), err);
      if (format == OutputFormat::kJson) {
        JsonWriter json;
        json.BeginObject().Key("deleted").Bool(*unlinked).EndObject();
        out << json.str() << "\n";
      } else {
        out << "checkpoint " << inv.args[0]
            << (*unlinked ? " unlinked and deleted\n" : " unlinked; deleted when its last handle closes\n");
      }
      return kExitOk;
    }
    case Command::kCheckpointRetention: {
      auto status = ckpt.SetRetention(inv.args[0], static_cast<uint64_t>(inv.checkpoint.retention->count()),
                                      OptionsOf(inv));
      if (!status) return CheckpointFailed(status.error(), err);
      out << FormatCheckpointStatus(*status, format);
      return kExitOk;
    }
    case Command::kCheckpointActive: {
      auto status = ckpt.SetActiveReplica(inv.args[0], inv.args[1], OptionsOf(inv));
      if (!status) return CheckpointFailed(status.error(), err);
      out << FormatCheckpointStatus(*status, format);
      return kExitOk;
    }
    case Command::kCheckpointWatch: return RunWatchCheckpoint(inv, ckpt, out, err);
    default: return kExitUsage;
  }
}

}  // namespace claw::clawctl
