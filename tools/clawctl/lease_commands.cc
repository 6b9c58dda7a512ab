#include "tools/clawctl/lease_commands.h"

#include <atomic>
#include <csignal>
#include <ostream>
#include <sstream>
#include <thread>

#include "tools/clawctl/commands.h"
#include "tools/clawctl/format.h"

namespace claw::clawctl {
namespace {

std::atomic<bool> g_interrupted{false};

std::string_view StateName(client::LeaseInfo::State s) {
  return s == client::LeaseInfo::State::kRevoking ? "REVOKING" : "ACTIVE";
}

void WriteLease(JsonWriter& json, const client::LeaseInfo& l, bool with_keys) {
  json.BeginObject();
  json.Key("id").Uint64(l.id);
  json.Key("ttl_ms").Uint64(l.ttl_ms);
  json.Key("granted_ttl_ms").Uint64(l.granted_ttl_ms);
  json.Key("state").String(StateName(l.state));
  if (with_keys) {
    json.Key("keys").BeginArray();
    for (const std::string& k : l.keys) json.Bytes(k);
    json.EndArray();
  }
  json.EndObject();
}

client::CallOptions OptionsOf(const Invocation& inv) {
  client::CallOptions o;
  o.deadline = inv.global.timeout;
  return o;
}

int LeaseFailed(const client::Error& error, std::ostream& err) {
  err << FormatError(error);
  if (error.code == client::ErrorCode::kLeaseNotFound) return kExitNotFound;
  return kExitFailed;
}

}  // namespace

std::string FormatLease(const client::LeaseInfo& l, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    WriteLease(json, l, !l.keys.empty());
    return json.str() + "\n";
  }
  std::string text = "lease " + std::to_string(l.id) + " " + std::string(StateName(l.state)) + " ttl " +
                     std::to_string(l.ttl_ms) + " ms (granted " + std::to_string(l.granted_ttl_ms) + " ms)\n";
  for (const std::string& k : l.keys) text += Escape(k) + "\n";
  return text;
}

std::string FormatLeases(const std::vector<client::LeaseInfo>& leases, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject().Key("leases").BeginArray();
    for (const auto& l : leases) WriteLease(json, l, false);
    json.EndArray().EndObject();
    return json.str() + "\n";
  }
  Table table({"ID", "STATE", "TTL_MS", "GRANTED_TTL_MS"});
  for (const auto& l : leases) {
    table.AddRow({std::to_string(l.id), std::string(StateName(l.state)), std::to_string(l.ttl_ms),
                  std::to_string(l.granted_ttl_ms)});
  }
  std::ostringstream out;
  table.Print(out, format);
  return out.str();
}

int RunLeaseCommand(const Invocation& inv, std::ostream& out, std::ostream& err) {
  client::ClientOptions copts;
  copts.endpoints = inv.global.endpoints;
  copts.default_deadline = inv.global.timeout;
  auto opened = client::LeaseClient::Open(copts);
  if (!opened) return LeaseFailed(opened.error(), err);
  client::LeaseClient& leases = **opened;
  const OutputFormat format = inv.global.format;
  switch (inv.command) {
    case Command::kLeaseGrant: {
      auto granted = leases.Grant(inv.lease_ttl, 0, OptionsOf(inv));
      if (!granted) return LeaseFailed(granted.error(), err);
      if (format == OutputFormat::kJson) {
        JsonWriter json;
        json.BeginObject().Key("id").Uint64(granted->id).Key("ttl_ms").Uint64(granted->ttl_ms).EndObject();
        out << json.str() << "\n";
      } else {
        out << "lease " << granted->id << " granted with TTL " << granted->ttl_ms << " ms\n";
      }
      return kExitOk;
    }
    case Command::kLeaseRevoke: {
      auto revoked = leases.Revoke(inv.lease_id, OptionsOf(inv));
      if (!revoked) return LeaseFailed(revoked.error(), err);
      if (format == OutputFormat::kJson) {
        JsonWriter json;
        json.BeginObject().Key("deleted").Uint64(*revoked).EndObject();
        out << json.str() << "\n";
      } else {
        out << "lease " << inv.lease_id << " revoked; " << *revoked << " keys deleted\n";
      }
      return kExitOk;
    }
    case Command::kLeaseTtl: {
      auto ttl = leases.TimeToLive(inv.lease_id,
                                   inv.lease_keys ? client::LeaseClient::Keys::kWithKeys
                                                  : client::LeaseClient::Keys::kWithout,
                                   OptionsOf(inv));
      if (!ttl) return LeaseFailed(ttl.error(), err);
      out << FormatLease(*ttl, format);
      return kExitOk;
    }
    case Command::kLeaseList: {
      auto all = leases.List(OptionsOf(inv));
      if (!all) return LeaseFailed(all.error(), err);
      out << FormatLeases(*all, format);
      return kExitOk;
    }
    case Command::kLeaseKeepAlive: {
      if (inv.once) {
        auto ttl = leases.KeepAliveOnce(inv.lease_id, OptionsOf(inv));
        if (!ttl) return LeaseFailed(ttl.error(), err);
        if (format == OutputFormat::kJson) {
          JsonWriter json;
          json.BeginObject().Key("id").Uint64(inv.lease_id).Key("ttl_ms").Uint64(*ttl).EndObject();
          out << json.str() << "\n";
        } else {
          out << "lease " << inv.lease_id << " kept alive; TTL " << *ttl << " ms\n";
        }
        return kExitOk;
      }
      // Until interrupted (SIGINT / SIGTERM) or the lease is gone.
      std::signal(SIGINT, [](int) { g_interrupted.store(true); });
      std::signal(SIGTERM, [](int) { g_interrupted.store(true); });
      std::atomic<bool> lost{false};
      client::Error why;
      auto keeper = leases.KeepAlive(inv.lease_id, [&](const client::Error& e) {
        why = e;
        lost.store(true);
      });
      uint64_t printed = 0;
      while (!g_interrupted.load() && !lost.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (keeper->renewals() != printed && format != OutputFormat::kJson) {
          printed = keeper->renewals();
          out << "lease " << inv.lease_id << " kept alive; TTL " << keeper->last_ttl_ms() << " ms\n" << std::flush;
        }
      }
      keeper->Stop();
      if (lost.load()) return LeaseFailed(why, err);
      return kExitOk;
    }
    default:
      return kExitUsage;
  }
}

}  // namespace claw::clawctl
